import { addExtension, Packr, Unpackr } from 'msgpackr';

/**
 * The one msgpackr configuration, shared by everything that encodes or
 * decodes sockbus values: maps as plain msgpack maps with the smallest
 * header, undefined as nil, maps decoded as objects, 64-bit integers as numbers.
 */
export const packer = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
export const unpacker = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** The msgpack nil byte: an absent element that has to hold its place. */
export const NIL = Buffer.from([0xc0]);

/**
 * A msgpack extension value this library gives no meaning to: its type and
 * its bytes, as they came. Publishing it writes the same bytes back, so an
 * extension another language's client uses passes through every TypeScript
 * program unchanged (PROTOCOL.md §3.0). Only type -1, msgpack's timestamp,
 * is decoded, as a Date.
 */
export class MsgpackExtension {
  constructor(
    /** -128 to 127; -1 is never one of these (it is decoded as a Date). */
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

const TIMESTAMP_TYPE = 0xff;

function encodeExtension(extension: MsgpackExtension): Buffer {
  const { data } = extension;
  const type = extension.type & 0xff;
  const fixed = [1, 2, 4, 8, 16].indexOf(data.length);
  let header: Buffer;
  if (fixed >= 0) header = Buffer.from([0xd4 + fixed, type]);
  else if (data.length < 0x100) header = Buffer.from([0xc7, data.length, type]);
  else if (data.length < 0x10000) header = Buffer.from([0xc8, data.length >> 8, data.length & 0xff, type]);
  else {
    header = Buffer.alloc(6);
    header[0] = 0xc9;
    header.writeUInt32BE(data.length, 1);
    header[5] = type;
  }
  return Buffer.concat([header, data]);
}

/*
 * msgpackr gives some extension types meanings of its own (sets, errors,
 * regular expressions, typed arrays...). On a bus shared with other
 * languages those would misread another program's values, so every type but
 * the timestamp is taken over here, once, for the whole process.
 */
for (let type = 0; type < 0x100; type++) {
  if (type === TIMESTAMP_TYPE) continue;
  const signed = type > 0x7f ? type - 0x100 : type;
  addExtension({ type, unpack: (bytes: Uint8Array) => new MsgpackExtension(signed, Uint8Array.prototype.slice.call(bytes)) } as never);
}
addExtension({
  Class: MsgpackExtension,
  // msgpackr wants a type for an extension that packs; ours writes the value's own type and header.
  type: 1,
  pack(extension: MsgpackExtension, allocate: (size: number) => { target: Uint8Array; position: number }) {
    const encoded = encodeExtension(extension);
    const { target, position } = allocate(encoded.length);
    target.set(encoded, position);
  },
} as never);

/**
 * msgpackr reads a fixext 1 or 2 of type 0x72 as one of its record
 * definitions, whatever its options say. Bodies that may hold one (a 0xd4
 * or 0xd5 byte followed by 0x72, which is rare) are decoded by the plain
 * reader below.
 */
function mayHoldRecordMark(body: Buffer): boolean {
  // One-byte searches are the cheap ones (about 20 ns for a small message); the lead bytes are rare in text.
  for (const lead of FIXEXT_1_AND_2) {
    for (let at = body.indexOf(lead); at !== -1; at = body.indexOf(lead, at + 1)) {
      if (body[at + 1] === RECORD_TYPE) return true;
    }
  }
  return false;
}

const FIXEXT_1_AND_2 = [0xd4, 0xd5] as const;
const RECORD_TYPE = 0x72;

/** Decodes one msgpack value from a trusted source (the broker checked it): numbers, strings, maps, extensions. */
export function unpackValue(body: Buffer): unknown {
  if (mayHoldRecordMark(body)) return new PlainReader(body).read();
  return unpacker.unpack(body);
}

/** A small recursive msgpack reader, used only where msgpackr would misread. */
class PlainReader {
  private offset = 0;

  constructor(private readonly bytes: Buffer) {}

  read(): unknown {
    const bytes = this.bytes;
    const byte = bytes[this.offset++]!;
    if (byte <= 0x7f) return byte;
    if (byte >= 0xe0) return byte - 0x100;
    if (byte <= 0x8f) return this.map(byte & 0x0f);
    if (byte <= 0x9f) return this.array(byte & 0x0f);
    if (byte <= 0xbf) return this.text(byte & 0x1f);
    switch (byte) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.uint(1));
      case 0xc5: return this.bin(this.uint(2));
      case 0xc6: return this.bin(this.uint(4));
      case 0xc7: return this.ext(this.uint(1));
      case 0xc8: return this.ext(this.uint(2));
      case 0xc9: return this.ext(this.uint(4));
      case 0xca: return this.take(4).readFloatBE(0);
      case 0xcb: return this.take(8).readDoubleBE(0);
      case 0xcc: return this.uint(1);
      case 0xcd: return this.uint(2);
      case 0xce: return this.uint(4);
      case 0xcf: return Number(this.take(8).readBigUInt64BE(0));
      case 0xd0: return this.take(1).readInt8(0);
      case 0xd1: return this.take(2).readInt16BE(0);
      case 0xd2: return this.take(4).readInt32BE(0);
      case 0xd3: return Number(this.take(8).readBigInt64BE(0));
      case 0xd4: return this.ext(1);
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xd9: return this.text(this.uint(1));
      case 0xda: return this.text(this.uint(2));
      case 0xdb: return this.text(this.uint(4));
      case 0xdc: return this.array(this.uint(2));
      case 0xdd: return this.array(this.uint(4));
      case 0xde: return this.map(this.uint(2));
      case 0xdf: return this.map(this.uint(4));
      default: throw new Error(`byte 0x${byte.toString(16)} is not msgpack`);
    }
  }

  private take(length: number): Buffer {
    const start = this.offset;
    this.offset += length;
    if (this.offset > this.bytes.length) throw new Error('msgpack value ends early');
    return this.bytes.subarray(start, this.offset);
  }

  private uint(size: 1 | 2 | 4): number {
    return this.take(size).readUIntBE(0, size);
  }

  private text(length: number): string {
    return this.take(length).toString('utf8');
  }

  private bin(length: number): Uint8Array {
    return Uint8Array.prototype.slice.call(this.take(length));
  }

  private ext(length: number): unknown {
    const type = this.take(1).readInt8(0);
    const data = this.take(length);
    // The timestamp is the one extension with a meaning; msgpackr decodes it exactly as elsewhere.
    if (type === -1) return unpacker.unpack(Buffer.concat([encodeExtension(new MsgpackExtension(type, data))]));
    return new MsgpackExtension(type, Uint8Array.prototype.slice.call(data));
  }

  private array(length: number): unknown[] {
    const values: unknown[] = [];
    for (let index = 0; index < length; index++) values.push(this.read());
    return values;
  }

  private map(length: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (let index = 0; index < length; index++) {
      const key = String(this.read());
      // Defined rather than assigned: a "__proto__" key is data, not the object's prototype.
      Object.defineProperty(map, key, { value: this.read(), enumerable: true, writable: true, configurable: true });
    }
    return map;
  }
}
