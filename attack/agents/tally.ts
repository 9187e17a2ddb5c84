import type { BrokerMessage } from '../../protocol/index.js';

/** Error answers counted by code, with the first message of each: what a row reports as "refused with this text". */
export class Tally {
  private readonly codes = new Map<string, { count: number; sample: string }>();

  add(code: string, message: string): void {
    const entry = this.codes.get(code);
    if (entry) entry.count++;
    else this.codes.set(code, { count: 1, sample: message });
  }

  /** Counts the error frames among `messages`; returns how many there were. */
  addErrors(messages: BrokerMessage[]): number {
    let errors = 0;
    for (const message of messages) {
      if (message.kind !== 9) continue;
      this.add(message.code, message.message);
      errors++;
    }
    return errors;
  }

  get total(): number {
    let total = 0;
    for (const { count } of this.codes.values()) total += count;
    return total;
  }

  toJSON(): Record<string, { count: number; sample: string }> {
    return Object.fromEntries(this.codes);
  }
}
