import { TopicTrie } from '../protocol/index.js';

/** What the index needs from a subscriber to deliver each message to it once. */
export interface Routable {
  /** Stamp of the last lookup that matched this subscriber. */
  routeEpoch: number;
}

/**
 * The broker's routing table: which subscribers want a topic. A subscriber
 * with several matching patterns gets a message once, and lookups allocate
 * nothing per message.
 */
export class SubscriptionIndex<T extends Routable> {
  private readonly trie = new TopicTrie<T>();
  private epoch = 0;
  private readonly matched: T[] = [];
  private readonly collect = (subscriber: T) => {
    if (subscriber.routeEpoch === this.epoch) return;
    subscriber.routeEpoch = this.epoch;
    this.matched.push(subscriber);
  };

  get size(): number {
    return this.trie.size;
  }

  add(pattern: string, subscriber: T): void {
    this.trie.add(pattern, subscriber);
  }

  remove(pattern: string, subscriber: T): void {
    this.trie.remove(pattern, subscriber);
  }

  /** The subscribers of a topic; the array is reused by the next call. */
  subscribersOf(topic: string): readonly T[] {
    this.epoch++;
    this.matched.length = 0;
    this.trie.match(topic, this.collect);
    return this.matched;
  }
}
