import { SINGLE_WILDCARD, TAIL_WILDCARD } from '../protocol/index.js';
import { type KeptValue } from './delivery.js';
import { RetainedIndex } from './retained-index.js';

export interface RetainedLimits {
  /** Topics with a retained value. */
  maxRetained: number;
  /** Encoded bytes of all retained values together. */
  maxRetainedBytes: number;
}

/** A retained value with the topic it belongs to. */
export interface RetainedEntry extends KeptValue {
  readonly topic: string;
}

/** An entry as the store keeps it: with when it was last set, for replay in that order. */
interface StoredEntry extends RetainedEntry {
  readonly sequence: number;
}

/**
 * The last value published with retain on each topic, for subscribers that
 * come later. Bounded in count and bytes: past either bound a new topic is
 * refused (an existing topic may still change, within the byte bound).
 */
export class RetainedStore {
  /** By topic, in the order values were last set. */
  private readonly values = new Map<string, StoredEntry>();
  private readonly index = new RetainedIndex<StoredEntry>();
  private bytes = 0;
  private nextSequence = 0;

  constructor(private readonly limits: RetainedLimits) {}

  get count(): number {
    return this.values.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Keeps `value` as the topic's last value, or clears it when null; returns why it was refused, or null. */
  set(topic: string, value: KeptValue | null): string | null {
    const previous = this.values.get(topic);
    const previousBytes = previous ? sizeOf(previous) : 0;
    if (value === null) {
      if (!previous) return null;
      this.values.delete(topic);
      this.index.delete(topic);
      this.bytes -= previousBytes;
      return null;
    }
    const entry: StoredEntry = { ...value, topic, sequence: this.nextSequence++ };
    const refusal = this.refusal(topic, previous, this.bytes - previousBytes + sizeOf(entry));
    if (refusal) return refusal;
    // Delete first so the topic moves to the end: the state file keeps the order values were last set.
    this.values.delete(topic);
    this.values.set(topic, entry);
    this.index.set(topic, entry);
    this.bytes += sizeOf(entry) - previousBytes;
    return null;
  }

  get(topic: string): RetainedEntry | undefined {
    return this.values.get(topic);
  }

  /**
   * The retained values whose topics the pattern matches, in the order
   * they were last set, found through the index: a subscribe costs what
   * it matches, not what the store holds.
   */
  matching(pattern: string): RetainedEntry[] {
    if (!pattern.includes(SINGLE_WILDCARD) && !pattern.includes(TAIL_WILDCARD)) {
      const entry = this.values.get(pattern);
      return entry ? [entry] : [];
    }
    return this.index.matching(pattern).sort((a, b) => a.sequence - b.sequence);
  }

  entries(): IterableIterator<RetainedEntry> {
    return this.values.values();
  }

  private refusal(topic: string, previous: RetainedEntry | undefined, bytesAfter: number): string | null {
    const { maxRetained, maxRetainedBytes } = this.limits;
    if (!previous && this.values.size >= maxRetained) {
      return `${topic} was delivered but not retained: the broker already retains ${maxRetained} topics, the most it allows (--max-retained)`;
    }
    if (bytesAfter > maxRetainedBytes) {
      return `${topic} was delivered but not retained: retained values would take ${bytesAfter} bytes, more than the ${maxRetainedBytes} the broker allows (--max-retained-bytes)`;
    }
    return null;
  }
}

export function sizeOf(entry: KeptValue): number {
  return entry.topicAndData.length + entry.headers.length;
}
