import { isUtf8 } from 'node:buffer';
import { ErrorCode, ProtocolError } from './errors.js';
import { MAX_HEADER_BYTES, MAX_HEADER_ENTRIES } from './limits.js';
import type { TextMemo } from './text-memo.js';
import { headerNameProblem } from './topics.js';

/** The largest "uint" of the protocol: ids, tokens, counts. */
export const MAX_UINT = 0xffffffff;

/** A refusal found inside a headers map; the frame itself is sound. */
export interface HeadersProblem {
  code: typeof ErrorCode.HeadersTooLarge | typeof ErrorCode.InvalidData;
  message: string;
}

/** An option value that is a float, where an integer may be wanted. */
export const NOT_AN_INTEGER = Symbol('a float');
/** An option value that is a bin, array, map or extension. */
export const OTHER_VALUE = Symbol('not a plain value');
export type OptionValue = null | boolean | number | string | typeof NOT_AN_INTEGER | typeof OTHER_VALUE;

/**
 * Reads msgpack in place, without building JavaScript values for the parts
 * it skips. The broker uses it on the publish path: it needs the topic and a
 * guarantee that the rest is well-formed msgpack, not the payload itself.
 */
export class MsgpackCursor {
  offset = 0;

  constructor(private readonly bytes: Buffer) {}

  get atEnd(): boolean {
    return this.offset === this.bytes.length;
  }

  readArrayLength(): number {
    const byte = this.readByte();
    if (byte >= 0x90 && byte <= 0x9f) return byte & 0x0f;
    if (byte === 0xdc) return this.readUnsigned(2);
    if (byte === 0xdd) return this.readUnsigned(4);
    throw this.shapeError('an array');
  }

  /**
   * Reads an integer in any msgpack integer encoding (PROTOCOL.md §3.0).
   * Floats are not integers. 64-bit values beyond 2^53 lose precision,
   * which no range a field allows can tell apart.
   */
  readInteger(what: string): number {
    const byte = this.readByte();
    if (byte <= 0x7f) return byte;
    if (byte >= 0xe0) return byte - 0x100;
    switch (byte) {
      case 0xcc: return this.readUnsigned(1);
      case 0xcd: return this.readUnsigned(2);
      case 0xce: return this.readUnsigned(4);
      case 0xcf: return Number(this.bytes.readBigUInt64BE(this.take(8) - 8));
      case 0xd0: return this.bytes.readInt8(this.take(1) - 1);
      case 0xd1: return this.bytes.readInt16BE(this.take(2) - 2);
      case 0xd2: return this.bytes.readInt32BE(this.take(4) - 4);
      case 0xd3: return Number(this.bytes.readBigInt64BE(this.take(8) - 8));
      default: throw this.shapeError(`an integer (${what})`);
    }
  }

  /** Reads a "uint" of the protocol: an integer from 0 to 2^32-1, in any integer encoding. */
  readUint(what: string): number {
    const start = this.offset;
    const value = this.readInteger(what);
    if (value < 0 || value > MAX_UINT) {
      throw new ProtocolError(ErrorCode.InvalidMessage, `${what} is ${value} at byte ${start}: it must be an integer from 0 to ${MAX_UINT}`);
    }
    return value;
  }

  /** Reads a string, rejecting bytes that are not valid UTF-8 with `invalidTextCode`. */
  readString(what = 'string', invalidTextCode: ErrorCode = ErrorCode.InvalidMessage): string {
    const text = this.readText(what);
    if (text === null) throw new ProtocolError(invalidTextCode, `invalid ${what}: not valid UTF-8`);
    return text;
  }

  /**
   * Reads a string element; null when its bytes are not valid UTF-8 (the
   * element is still consumed). With a memo, strings seen recently are
   * found by their bytes instead of decoded again.
   */
  readText(what: string, memo?: TextMemo): string | null {
    if (!isStringFormat(this.peekByte())) throw this.shapeError(`a string (${what})`, 0);
    const length = this.readStringLength();
    const end = this.take(length);
    if (memo) return memo.text(this.bytes, end - length, end, decodeText);
    return decodeText(this.bytes.subarray(end - length, end));
  }

  isNil(): boolean {
    return this.peekByte() === 0xc0;
  }

  /**
   * Checks a headers map (PROTOCOL.md §4.4) and skips it. A value that is
   * not a map is the frame's fault and throws; what is wrong inside the map
   * is returned, with the map skipped, so the connection can go on.
   */
  readHeaders(what: string): HeadersProblem | null {
    const start = this.offset;
    const byte = this.readByte();
    let entries: number;
    if (byte >= 0x80 && byte <= 0x8f) entries = byte & 0x0f;
    else if (byte === 0xde) entries = this.readUnsigned(2);
    else if (byte === 0xdf) entries = this.readUnsigned(4);
    else throw this.shapeError(`${what} (a map of strings, or nil)`, 1);
    let problem: HeadersProblem | null = null;
    if (entries > MAX_HEADER_ENTRIES) {
      problem = { code: ErrorCode.HeadersTooLarge, message: `${what}: ${entries} entries, more than the ${MAX_HEADER_ENTRIES} a message may carry` };
    }
    const names: string[] = [];
    for (let index = 0; index < entries; index++) {
      if (problem) {
        // Refused already: the rest is only stepped over, in one pass.
        this.skipValues(2 * (entries - index), false);
        break;
      }
      problem = this.readHeaderEntry(what, names);
    }
    if (this.offset - start > MAX_HEADER_BYTES && problem?.code !== ErrorCode.HeadersTooLarge) {
      problem = { code: ErrorCode.HeadersTooLarge, message: `${what}: ${this.offset - start} bytes, more than the ${MAX_HEADER_BYTES} a message's headers may take` };
    }
    return problem;
  }

  private readHeaderEntry(what: string, names: string[]): HeadersProblem | null {
    if (!isStringFormat(this.peekByte())) {
      this.skipValue();
      this.skipValue();
      return invalidData(`${what}: a header name is not a string`);
    }
    const name = this.readText('header name');
    const nameProblem = name === null ? `${what}: a header name is not valid UTF-8` : headerNameProblem(name);
    if (!isStringFormat(this.peekByte())) {
      this.skipValue();
      return invalidData(`${what}: the value of header ${JSON.stringify(name)} is not a string`);
    }
    const value = this.readText('header value');
    if (nameProblem) return invalidData(nameProblem);
    if (value === null) return invalidData(`${what}: the value of header ${JSON.stringify(name)} is not valid UTF-8`);
    if (names.includes(name!)) return invalidData(`${what}: header ${JSON.stringify(name)} appears twice`);
    names.push(name!);
    return null;
  }

  /**
   * A small map of options (hello, subscribe and publish options, a
   * respond's error), read in place: string keys to plain values. Undefined
   * for nil. Values of other types are kept as markers, so that a field can
   * say exactly what it wanted; keys nobody asks for are ignored.
   */
  readOptions(what: string): Map<string, OptionValue> | undefined {
    if (this.isNil()) {
      this.offset++;
      return undefined;
    }
    const byte = this.readByte();
    let entries: number;
    if (byte >= 0x80 && byte <= 0x8f) entries = byte & 0x0f;
    else if (byte === 0xde) entries = this.readUnsigned(2);
    else if (byte === 0xdf) entries = this.readUnsigned(4);
    else throw this.shapeError(`${what} (a map, or nil)`, 1);
    const options = new Map<string, OptionValue>();
    for (let index = 0; index < entries; index++) {
      const key = this.readString(`a key of ${what}`);
      options.set(key, this.readOptionValue(`${what}: "${key}"`));
    }
    return options;
  }

  private readOptionValue(what: string): OptionValue {
    const byte = this.peekByte();
    if (byte === 0xc0 || byte === 0xc2 || byte === 0xc3) {
      this.offset++;
      return byte === 0xc0 ? null : byte === 0xc3;
    }
    if (byte <= 0x7f || byte >= 0xe0 || (byte >= 0xcc && byte <= 0xcf) || (byte >= 0xd0 && byte <= 0xd3)) return this.readInteger(what);
    if (isStringFormat(byte)) return this.readString(what);
    this.skipValue();
    return byte === 0xca || byte === 0xcb ? NOT_AN_INTEGER : OTHER_VALUE;
  }

  /**
   * Skips one complete value of any type, checking that it is well-formed.
   * Iterative, so hostile nesting cannot exhaust the stack.
   */
  skipValue(): void {
    this.skipValues(1, true);
  }

  /**
   * Skips `count` values in one loop. `checkText` false skips strings
   * unread: for what is refused anyway, so that refusing a huge map costs
   * one pass over its bytes and no more.
   */
  skipValues(count: number, checkText: boolean): void {
    let remaining = count;
    while (remaining > 0) {
      remaining--;
      const byte = this.readByte();
      if (byte <= 0x7f || byte >= 0xe0) continue;
      if (byte <= 0x8f) remaining += (byte & 0x0f) * 2;
      else if (byte <= 0x9f) remaining += byte & 0x0f;
      else if (byte <= 0xbf) {
        if (checkText) this.checkText(byte & 0x1f);
        else this.take(byte & 0x1f);
      } else remaining += this.skipTyped(byte, checkText);
    }
  }

  /**
   * Where the first string that is not valid UTF-8 was found by skipValue,
   * or -1. Every string a client sends must be text (PROTOCOL.md §3.0), data
   * included, so that no subscriber is handed one that is not.
   */
  invalidTextAt = -1;

  private skipText(length: number, checkText: boolean): void {
    if (checkText) this.checkText(length);
    else this.take(length);
  }

  private checkText(length: number): void {
    const end = this.take(length);
    if (this.invalidTextAt === -1 && !isText(this.bytes.subarray(end - length, end))) this.invalidTextAt = end - length;
  }

  /** Skips the body of a value whose first byte is in 0xc0..0xdf; returns how many nested values follow. */
  private skipTyped(byte: number, checkText: boolean): number {
    switch (byte) {
      case 0xc0: case 0xc2: case 0xc3: return 0;
      case 0xc4: this.take(this.readUnsigned(1)); return 0;
      case 0xc5: this.take(this.readUnsigned(2)); return 0;
      case 0xc6: this.take(this.readUnsigned(4)); return 0;
      case 0xd9: this.skipText(this.readUnsigned(1), checkText); return 0;
      case 0xda: this.skipText(this.readUnsigned(2), checkText); return 0;
      case 0xdb: this.skipText(this.readUnsigned(4), checkText); return 0;
      case 0xc7: this.take(this.readUnsigned(1) + 1); return 0;
      case 0xc8: this.take(this.readUnsigned(2) + 1); return 0;
      case 0xc9: this.take(this.readUnsigned(4) + 1); return 0;
      case 0xca: case 0xce: case 0xd2: this.take(4); return 0;
      case 0xcb: case 0xcf: case 0xd3: this.take(8); return 0;
      case 0xcc: case 0xd0: this.take(1); return 0;
      case 0xcd: case 0xd1: this.take(2); return 0;
      case 0xd4: this.take(2); return 0;
      case 0xd5: this.take(3); return 0;
      case 0xd6: this.take(5); return 0;
      case 0xd7: this.take(9); return 0;
      case 0xd8: this.take(17); return 0;
      case 0xdc: return this.readUnsigned(2);
      case 0xdd: return this.readUnsigned(4);
      case 0xde: return this.readUnsigned(2) * 2;
      case 0xdf: return this.readUnsigned(4) * 2;
      default:
        throw new ProtocolError(ErrorCode.MalformedFrame, `byte 0x${byte.toString(16)} at ${this.offset - 1} is not valid msgpack`);
    }
  }

  private readStringLength(): number {
    const byte = this.readByte();
    if (byte >= 0xa0 && byte <= 0xbf) return byte & 0x1f;
    if (byte === 0xd9) return this.readUnsigned(1);
    if (byte === 0xda) return this.readUnsigned(2);
    if (byte === 0xdb) return this.readUnsigned(4);
    throw this.shapeError('a string');
  }

  private peekByte(): number {
    if (this.offset >= this.bytes.length) throw truncated();
    return this.bytes[this.offset]!;
  }

  private readByte(): number {
    const byte = this.peekByte();
    this.offset++;
    return byte;
  }

  private readUnsigned(size: 1 | 2 | 4): number {
    const end = this.take(size);
    return this.bytes.readUIntBE(end - size, size);
  }

  /** Advances past `count` bytes, returning the new offset. */
  private take(count: number): number {
    const end = this.offset + count;
    if (end > this.bytes.length) throw truncated();
    this.offset = end;
    return end;
  }

  private shapeError(expected: string, consumed = 1): ProtocolError {
    return new ProtocolError(ErrorCode.InvalidMessage, `expected ${expected} at byte ${this.offset - consumed}`);
  }
}

function isStringFormat(byte: number): boolean {
  return (byte >= 0xa0 && byte <= 0xbf) || byte === 0xd9 || byte === 0xda || byte === 0xdb;
}

/**
 * Whether bytes are valid UTF-8. Most strings on the bus are short ASCII
 * (keys, names, small values): a loop settles those without a call into
 * native code.
 */
function isText(bytes: Uint8Array): boolean {
  if (bytes.length <= 32) {
    let ascii = true;
    for (let index = 0; index < bytes.length; index++) {
      if (bytes[index]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return true;
  }
  return isUtf8(bytes);
}

function decodeText(raw: Buffer): string | null {
  return isText(raw) ? raw.toString('utf8') : null;
}

function invalidData(message: string): HeadersProblem {
  return { code: ErrorCode.InvalidData, message };
}

function truncated(): ProtocolError {
  return new ProtocolError(ErrorCode.MalformedFrame, 'msgpack value ends before its declared length');
}
