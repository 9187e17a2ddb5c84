import type { Client } from '../../client/index.js';

/**
 * Sequence-checked delivery: publishers number their messages, subscribers
 * check that per publisher each number arrives at most once and in order,
 * and every missing number is accounted for by something the user was told:
 * - the publisher's "unconfirmed" notice when its connection died with
 *   publishes in flight (those numbers are the last `count` it had published);
 * - the subscriber's own disconnection: a message that comes, in its
 *   publisher's order, after the last one the subscriber had when its
 *   connection died, and was published before it had resubscribed, was in
 *   flight or never its to receive, and it was told it was away;
 * - the broker's dropped notices to the subscriber (counts, not numbers).
 * No vitest here, so the soak and fuzz runs and the bench can use it too.
 */

export interface SequencedMessage {
  publisher: string;
  seq: number;
}

export class SequencePublisher {
  /** The last number published; numbers start at 1. */
  seq = 0;
  /** When each number was handed to the client (index = seq). */
  readonly publishedAt: number[] = [0];
  /** Numbers the client reported as in doubt, as [first, last] ranges. */
  readonly unconfirmed: Array<[number, number]> = [];

  constructor(
    readonly name: string,
    readonly client: Client,
    readonly topic = `seq.${name}`,
  ) {
    client.on('dropped', (notice) => {
      if (notice.source === 'connection') this.unconfirmed.push([this.seq - notice.count + 1, this.seq]);
      // Any other local drop is a failure of the test setup, not something to excuse.
      else if (notice.source === 'client') throw new Error(`publisher ${name} dropped ${notice.count} locally: ${notice.reason}`);
    });
  }

  publish(count = 1, payload: unknown = null): void {
    for (let index = 0; index < count; index++) {
      this.seq++;
      this.publishedAt.push(Date.now());
      this.client.publish(this.topic, { publisher: this.name, seq: this.seq, payload });
    }
  }
}

export class SequenceSubscriber {
  readonly lastSeen = new Map<string, number>();
  readonly missing = new Map<string, number[]>();
  received = 0;
  duplicatesOrReordered = 0;
  brokerDropped = 0;
  /**
   * Each time this subscriber was away: the last number it had from each
   * publisher when its connection died, and when it was subscribed again.
   */
  readonly away: Array<{ lastSeen: ReadonlyMap<string, number>; until: number }> = [];
  private awayFrom: ReadonlyMap<string, number> | null = null;

  constructor(
    readonly client: Client,
    pattern = 'seq.>',
  ) {
    client.subscribe<SequencedMessage>(pattern, (message) => this.receive(message.data));
    client.on('dropped', (notice) => {
      if (notice.source === 'broker') this.brokerDropped += notice.count;
    });
    client.on('disconnect', () => (this.awayFrom ??= new Map(this.lastSeen)));
    client.on('reconnect', () => {
      // Subscribed again once the broker has processed the resubscription.
      client.flush().then(
        () => this.back(),
        () => undefined,
      );
    });
  }

  get reconnected(): boolean {
    return this.awayFrom === null;
  }

  private back(): void {
    if (this.awayFrom === null) return;
    this.away.push({ lastSeen: this.awayFrom, until: Date.now() });
    this.awayFrom = null;
  }

  private receive({ publisher, seq }: SequencedMessage): void {
    this.received++;
    const last = this.lastSeen.get(publisher) ?? 0;
    if (seq <= last) {
      this.duplicatesOrReordered++;
      return;
    }
    if (seq > last + 1) {
      const gap = this.missing.get(publisher) ?? [];
      for (let missed = last + 1; missed < seq; missed++) gap.push(missed);
      this.missing.set(publisher, gap);
    }
    this.lastSeen.set(publisher, seq);
  }
}

export interface SequenceReport {
  published: number;
  delivered: number;
  duplicatesOrReordered: number;
  /** Missing at a subscriber: in the publisher's unconfirmed notices. */
  missingUnconfirmed: number;
  /** Missing at a subscriber: published while it was away (it was told it was disconnected). */
  missingWhileAway: number;
  /** Missing at a subscriber: covered by the broker's dropped notices to it. */
  missingDroppedByBroker: number;
  /** Missing at a subscriber, with nothing to account for it. Must be 0. */
  lostUnreported: number;
}

/** Checks every subscriber against every publisher, once all traffic has settled. */
export function checkSequences(publishers: SequencePublisher[], subscribers: SequenceSubscriber[]): SequenceReport {
  const report: SequenceReport = {
    published: 0,
    delivered: 0,
    duplicatesOrReordered: 0,
    missingUnconfirmed: 0,
    missingWhileAway: 0,
    missingDroppedByBroker: 0,
    lostUnreported: 0,
  };
  for (const publisher of publishers) report.published += publisher.seq;
  for (const subscriber of subscribers) {
    report.delivered += subscriber.received;
    report.duplicatesOrReordered += subscriber.duplicatesOrReordered;
    let unexplained = 0;
    for (const publisher of publishers) {
      const last = subscriber.lastSeen.get(publisher.name) ?? 0;
      const missing = [...(subscriber.missing.get(publisher.name) ?? [])];
      for (let trailing = last + 1; trailing <= publisher.seq; trailing++) missing.push(trailing);
      for (const seq of missing) {
        const inDoubt = publisher.unconfirmed.some(([first, lastInRange]) => seq >= first && seq <= lastInRange);
        // After the last it had from this publisher when it went away, and before it was back.
        const publishedAt = publisher.publishedAt[seq]!;
        const whileAway = subscriber.away.some(
          (away) => seq > (away.lastSeen.get(publisher.name) ?? 0) && publishedAt <= away.until,
        );
        if (inDoubt) report.missingUnconfirmed++;
        else if (whileAway) report.missingWhileAway++;
        else unexplained++;
      }
    }
    // The broker's drop notices are counts: they cover that many of the rest.
    const coveredByBroker = Math.min(unexplained, subscriber.brokerDropped);
    report.missingDroppedByBroker += coveredByBroker;
    report.lostUnreported += unexplained - coveredByBroker;
  }
  return report;
}
