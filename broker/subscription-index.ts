import { BoundedCache, TopicTrie } from '../protocol/index.js';

/** What the index needs from a subscriber to deliver each message to it once. */
export interface Routable {
  /** Stamp of the last lookup that matched this subscriber. */
  routeEpoch: number;
}

/**
 * The broker's routing table: which subscribers want a topic. A subscriber
 * with several matching patterns gets a message once. Answers are cached
 * per topic until the subscriptions change, so a steady stream on a few
 * topics costs one map lookup per message.
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

  private readonly answers = new BoundedCache<string, readonly T[]>();

  get size(): number {
    return this.trie.size;
  }

  add(pattern: string, subscriber: T): void {
    this.trie.add(pattern, subscriber);
    this.answers.clear();
  }

  remove(pattern: string, subscriber: T): void {
    this.trie.remove(pattern, subscriber);
    this.answers.clear();
  }

  /** The subscribers of a topic, each once. */
  subscribersOf(topic: string): readonly T[] {
    const known = this.answers.get(topic);
    if (known) return known;
    this.epoch++;
    this.matched.length = 0;
    this.trie.match(topic, this.collect);
    return this.answers.set(topic, [...this.matched]);
  }
}
