import { Keepalive } from '../protocol/index.js';

/** The timer functions a heartbeat uses, injectable so tests can drive time. */
export interface Clock {
  now(): number;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    // A heartbeat alone must not keep a process alive.
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface HeartbeatOptions {
  /** Silence after which a ping is sent. */
  intervalMs: number;
  /** Further silence after the ping before the peer is declared dead. */
  timeoutMs: number;
  ping(): void;
  onTimeout(silentMs: number): void;
  /**
   * When the oldest question still awaiting its answer (a ping behind a
   * flush, a stats request) was asked, by the clock, or null when none is.
   * A peer that keeps talking but leaves it unanswered for as long as a
   * silent one may stay silent is hung too: `onUnanswered` then ends it.
   */
  oldestUnanswered?(): { askedAt: number; what: string } | null;
  onUnanswered?(what: string, waitedMs: number): void;
  clock?: Clock;
}

/**
 * Detects a peer that stopped answering (hung, or stopped with SIGSTOP):
 * a closed socket is noticed at once, a frozen process is not. Anything
 * heard from the peer counts as a sign of life, but not as an answer: a
 * question left unanswered past the same bound ends the peer as well, so a
 * broker that talks and never answers pings cannot make flush() hang.
 */
export class Heartbeat {
  private readonly clock: Clock;
  private handle: unknown = null;
  private keepalive: Keepalive;

  constructor(private readonly options: HeartbeatOptions) {
    this.clock = options.clock ?? systemClock;
    this.keepalive = new Keepalive(options.intervalMs, options.timeoutMs, this.clock.now());
  }

  start(): void {
    this.keepalive = new Keepalive(this.options.intervalMs, this.options.timeoutMs, this.clock.now());
    const period = Math.max(10, Math.min(this.options.intervalMs, this.options.timeoutMs) / 2);
    this.handle = this.clock.setInterval(() => this.check(), period);
  }

  /** Records a sign of life from the peer. */
  heard(): void {
    this.keepalive.heard(this.clock.now());
  }

  stop(): void {
    if (this.handle !== null) this.clock.clearInterval(this.handle);
    this.handle = null;
  }

  private check(): void {
    const now = this.clock.now();
    const verdict = this.keepalive.check(now);
    // Silence first: a silent peer's questions are unanswered too, and silence is the better diagnosis.
    if (verdict === 'gone') {
      this.stop();
      this.options.onTimeout(this.keepalive.silentFor(now));
      return;
    }
    const unanswered = this.options.oldestUnanswered?.();
    if (unanswered && now - unanswered.askedAt >= this.options.intervalMs + this.options.timeoutMs) {
      this.stop();
      this.options.onUnanswered?.(unanswered.what, now - unanswered.askedAt);
      return;
    }
    if (verdict === 'ping') this.options.ping();
  }
}
