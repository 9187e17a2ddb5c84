import { ErrorCode, MessageKind, ProtocolError } from '../protocol/index.js';
import type { Connection } from './connection.js';
import { encodeStats, type StatsSources } from './stats-snapshot.js';

/** Stats answers one user's connections get per second, together; more wait their turn. */
const ANSWERS_PER_SECOND = 20;
/** Stats requests one connection may have waiting; past it the connection is closed. */
const MAX_WAITING_PER_CONNECTION = 64;

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * Answers stats requests at a rate per user. An answer costs work in
 * proportion to the number of connections, so a user asking in a loop
 * from many connections would otherwise take the broker's CPU from
 * everyone; past its rate a request waits (its answer comes later, in
 * order), and a connection that piles up requests without waiting for the
 * answers is closed.
 */
export class StatsService {
  private readonly buckets = new Map<number | null, Bucket>();
  private readonly waiting = new Map<Connection, number[]>();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(private readonly sources: StatsSources) {}

  request(connection: Connection, token: number): void {
    const queue = this.waiting.get(connection);
    if (queue) {
      if (queue.length < MAX_WAITING_PER_CONNECTION) queue.push(token);
      else connection.closeWithError(new ProtocolError(ErrorCode.RateLimited, `${MAX_WAITING_PER_CONNECTION} stats requests are already waiting on this connection: a user gets ${ANSWERS_PER_SECOND} stats answers a second`, undefined, { kind: MessageKind.StatsRequest }));
      return;
    }
    if (this.take(connection)) return this.answer(connection, token);
    this.waiting.set(connection, [token]);
    this.schedule();
  }

  /** Drops what a closed connection was waiting for. */
  forget(connection: Connection): void {
    this.waiting.delete(connection);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
  }

  private answer(connection: Connection, token: number): void {
    connection.send(encodeStats(this.sources, connection, token, Math.min(connection.controlRoomBytes, this.sources.maxAnswerBytes)));
    // An answer costs in proportion to the connections: others go next.
    connection.endTurn();
  }

  private take(connection: Connection): boolean {
    const uid = connection.credentials?.uid ?? null;
    const now = Date.now();
    let bucket = this.buckets.get(uid);
    if (!bucket) this.buckets.set(uid, (bucket = { tokens: ANSWERS_PER_SECOND, refilledAt: now }));
    bucket.tokens = Math.min(ANSWERS_PER_SECOND, bucket.tokens + ((now - bucket.refilledAt) * ANSWERS_PER_SECOND) / 1000);
    bucket.refilledAt = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  private schedule(): void {
    if (this.immediate) return;
    this.timer ??= setTimeout(() => this.drain(), 1000 / ANSWERS_PER_SECOND);
  }

  /**
   * Answers one waiting request, then lets everything else run before the
   * next: answers are the costly part, and many of them back to back would
   * stall every other connection. The connection answered goes to the back.
   */
  private drain(): void {
    this.timer = null;
    this.immediate = null;
    for (const [connection, tokens] of this.waiting) {
      if (!this.take(connection)) continue;
      this.answer(connection, tokens.shift()!);
      this.waiting.delete(connection);
      if (tokens.length > 0) this.waiting.set(connection, tokens);
      this.immediate = setImmediate(() => this.drain());
      return;
    }
    if (this.waiting.size > 0) this.schedule();
  }
}
