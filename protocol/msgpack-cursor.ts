import { isUtf8 } from 'node:buffer';
import { ErrorCode, ProtocolError } from './errors.js';
import { MAX_HEADER_BYTES, MAX_HEADER_ENTRIES } from './limits.js';

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

  readUint(): number {
    const byte = this.readByte();
    if (byte <= 0x7f) return byte;
    if (byte === 0xcc) return this.readUnsigned(1);
    if (byte === 0xcd) return this.readUnsigned(2);
    if (byte === 0xce) return this.readUnsigned(4);
    throw this.shapeError('an unsigned integer');
  }

  /** Reads a string, rejecting bytes that are not valid UTF-8 with `invalidTextCode`. */
  readString(what = 'string', invalidTextCode: ErrorCode = ErrorCode.InvalidMessage): string {
    const length = this.readStringLength();
    const end = this.take(length);
    const raw = this.bytes.subarray(end - length, end);
    if (!isUtf8(raw)) {
      throw new ProtocolError(invalidTextCode, `invalid ${what}: not valid UTF-8 (at byte ${end - length})`);
    }
    return raw.toString('utf8');
  }

  isNil(): boolean {
    return this.peekByte() === 0xc0;
  }

  /**
   * Checks a headers map (keys and values all strings, within the header
   * limits) and skips it. The entry count is checked before any entry is
   * read, so a huge map costs nothing to refuse.
   */
  skipHeaders(what: string): void {
    const start = this.offset;
    const byte = this.readByte();
    let entries: number;
    if (byte >= 0x80 && byte <= 0x8f) entries = byte & 0x0f;
    else if (byte === 0xde) entries = this.readUnsigned(2);
    else if (byte === 0xdf) entries = this.readUnsigned(4);
    else throw this.shapeError(`${what} (a map of strings)`, 1);
    if (entries > MAX_HEADER_ENTRIES) {
      throw new ProtocolError(ErrorCode.HeadersTooLarge, `${what}: ${entries} entries, more than the ${MAX_HEADER_ENTRIES} a message may carry`);
    }
    for (let index = 0; index < entries * 2; index++) {
      if (!isStringFormat(this.peekByte())) throw this.shapeError(`${what} (a map of strings)`, 0);
      this.readString();
    }
    if (this.offset - start > MAX_HEADER_BYTES) {
      throw new ProtocolError(ErrorCode.HeadersTooLarge, `${what}: ${this.offset - start} bytes, more than the ${MAX_HEADER_BYTES} a message's headers may take`);
    }
  }

  /**
   * Skips one complete value of any type, checking that it is well-formed.
   * Iterative, so hostile nesting cannot exhaust the stack.
   */
  skipValue(): void {
    let remaining = 1;
    while (remaining > 0) {
      remaining--;
      const byte = this.readByte();
      if (byte <= 0x7f || byte >= 0xe0) continue;
      if (byte <= 0x8f) remaining += (byte & 0x0f) * 2;
      else if (byte <= 0x9f) remaining += byte & 0x0f;
      else if (byte <= 0xbf) this.take(byte & 0x1f);
      else remaining += this.skipTyped(byte);
    }
  }

  /** Skips the body of a value whose first byte is in 0xc0..0xdf; returns how many nested values follow. */
  private skipTyped(byte: number): number {
    switch (byte) {
      case 0xc0: case 0xc2: case 0xc3: return 0;
      case 0xc4: case 0xd9: this.take(this.readUnsigned(1)); return 0;
      case 0xc5: case 0xda: this.take(this.readUnsigned(2)); return 0;
      case 0xc6: case 0xdb: this.take(this.readUnsigned(4)); return 0;
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

function truncated(): ProtocolError {
  return new ProtocolError(ErrorCode.MalformedFrame, 'msgpack value ends before its declared length');
}
