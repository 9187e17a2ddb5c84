import { patternMatches } from '../protocol/index.js';
import type { BrokerSubscription } from './router.js';

/**
 * One connection's subscriptions by the id the client gave them, with the
 * bytes of their patterns kept as they change, for the per-connection bound.
 */
export class SubscriptionSet {
  private readonly byId = new Map<number, BrokerSubscription>();
  private bytes = 0;

  get size(): number {
    return this.byId.size;
  }

  get patternBytes(): number {
    return this.bytes;
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  get(id: number): BrokerSubscription | undefined {
    return this.byId.get(id);
  }

  add(id: number, subscription: BrokerSubscription): void {
    this.byId.set(id, subscription);
    this.bytes += Buffer.byteLength(subscription.pattern);
  }

  delete(id: number): BrokerSubscription | undefined {
    const subscription = this.byId.get(id);
    if (!subscription) return undefined;
    this.byId.delete(id);
    this.bytes -= Buffer.byteLength(subscription.pattern);
    return subscription;
  }

  /**
   * The plain subscription a request on `topic` goes to: of those whose
   * pattern matches, the lowest id (PROTOCOL.md §3.12). Requests are rare
   * next to publishes, so a scan of this one connection's set is enough.
   */
  requestReceiver(topic: string): number | undefined {
    let lowest: number | undefined;
    for (const [id, { pattern, member }] of this.byId) {
      if (member || (lowest !== undefined && id > lowest) || !patternMatches(pattern, topic)) continue;
      lowest = id;
    }
    return lowest;
  }

  entries(): IterableIterator<[number, BrokerSubscription]> {
    return this.byId.entries();
  }
}
