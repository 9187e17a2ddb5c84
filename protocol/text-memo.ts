/** Slots of a memo: a power of two, so a hash picks one with a mask. */
const SLOTS = 64;
/** Longer strings are decoded each time: comparing them would cost about what decoding does. */
const MAX_MEMO_BYTES = 256;

interface Slot {
  /** A copy of the bytes, never a view of the read: a view would pin the read buffer it came from. */
  readonly bytes: Buffer;
  /** The decoded string, or null when the bytes are not valid UTF-8. */
  readonly text: string | null;
}

/**
 * Remembers the strings of recently seen msgpack string bytes, by the bytes
 * themselves. Topics repeat on a bus (a publisher sends thousands of
 * messages on a few topics), and a hit costs a byte comparison instead of a
 * UTF-8 check, a view and a decode, and returns the same string object
 * each time, which the caches keyed by topic then find at once. Bounded:
 * 64 slots of at most 256 bytes; a sender of ever new topics only misses.
 */
export class TextMemo {
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(SLOTS);

  /** The string the bytes `[start, end)` of `source` hold; null when they are not valid UTF-8. */
  text(source: Buffer, start: number, end: number, decode: (bytes: Buffer) => string | null): string | null {
    const length = end - start;
    if (length > MAX_MEMO_BYTES || length === 0) return decode(source.subarray(start, end));
    // Every byte counts in the hash: topics that differ only in an id in the middle (sensors.0001.temp) must not share a slot.
    let hash = 2166136261;
    for (let index = start; index < end; index++) hash = Math.imul(hash ^ source[index]!, 16777619);
    const slot = this.slots[(hash >>> 0) & (SLOTS - 1)];
    if (slot && sameBytes(slot.bytes, source, start, length)) return slot.text;
    const bytes = Buffer.from(source.subarray(start, end));
    const text = decode(bytes);
    this.slots[(hash >>> 0) & (SLOTS - 1)] = { bytes, text };
    return text;
  }
}

function sameBytes(known: Buffer, source: Buffer, start: number, length: number): boolean {
  if (known.length !== length) return false;
  for (let index = 0; index < length; index++) {
    if (known[index] !== source[start + index]) return false;
  }
  return true;
}
