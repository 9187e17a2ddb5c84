import { failureOf as why, type Child } from './processes.js';
import { CAROL, nodeAs } from './users.js';

/** What the well-behaved pair saw while an attack ran. */
export interface PairResult {
  sent: number;
  lost: number;
  duplicates: number;
  reordered: number;
  pings: number;
  pingsUnanswered: number;
  /** Round trip of a ping through the broker, ms. */
  p50: number | null;
  p99: number | null;
  /** The pair's processes failed to start or report; the figures above are then what is known. */
  failure: string | null;
}

const READY_TIMEOUT_MS = 10_000;

/**
 * Carol's subscriber and publisher, real client library processes: the
 * publisher sends a numbered sequence at a modest rate and pings; the
 * subscriber checks every number arrives once, in order.
 */
export class WellBehavedPair {
  private constructor(
    private readonly subscriber: Child,
    private readonly publisher: Child,
    private readonly startFailure: string | null,
  ) {}

  static async start(copy: string, path: string, ratePerSecond = 200): Promise<WellBehavedPair> {
    const topic = 'pair.seq';
    const subscriber = nodeAs(CAROL, copy, 'attack/agents/pair-subscriber.js', [JSON.stringify({ path, topic })]);
    const subscribed = await subscriber.nextEvent('ready', READY_TIMEOUT_MS);
    const publisher = nodeAs(CAROL, copy, 'attack/agents/pair-publisher.js', [JSON.stringify({ path, topic, ratePerSecond })]);
    const publishing = subscribed ? await publisher.nextEvent('ready', READY_TIMEOUT_MS) : null;
    const failure = !subscribed ? `subscriber did not start: ${why(subscriber)}` : !publishing ? `publisher did not start: ${why(publisher)}` : null;
    return new WellBehavedPair(subscriber, publisher, failure);
  }

  /** Stops the publisher, lets the subscriber count, and ends both. */
  async finish(): Promise<PairResult> {
    this.publisher.command('stop');
    const published = await this.publisher.nextEvent('result', 8000);
    const sent = Number(published?.['sent'] ?? 0);
    this.subscriber.command('finish', { sent });
    const subscribed = await this.subscriber.nextEvent('result', 8000);
    await Promise.all([this.publisher.kill(), this.subscriber.kill()]);
    const failure =
      this.startFailure ??
      (!published ? `publisher did not report: ${why(this.publisher)}` : !subscribed ? `subscriber did not report: ${why(this.subscriber)}` : null);
    return {
      sent,
      lost: subscribed ? Number(subscribed['lost']) : sent,
      duplicates: Number(subscribed?.['duplicates'] ?? 0),
      reordered: Number(subscribed?.['reordered'] ?? 0),
      pings: Number(published?.['pings'] ?? 0),
      pingsUnanswered: Number(published?.['pingsUnanswered'] ?? 0),
      p50: (published?.['p50'] as number | null) ?? null,
      p99: (published?.['p99'] as number | null) ?? null,
      failure,
    };
  }
}
