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

  entries(): IterableIterator<[number, BrokerSubscription]> {
    return this.byId.entries();
  }
}
