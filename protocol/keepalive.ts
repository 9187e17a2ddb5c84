/**
 * The keepalive rule both ends apply (PROTOCOL.md §3.6, §8), without
 * timers: after `intervalMs` of silence, ping once; after `timeoutMs` more,
 * the peer is gone. Anything heard from the peer starts the count again.
 * The broker drives it from its deadline sweep, the client from its
 * heartbeat timer.
 */
export class Keepalive {
  private lastHeard: number;
  private pinged = false;

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    now: number,
  ) {
    this.lastHeard = now;
  }

  /** A sign of life from the peer. */
  heard(now: number): void {
    this.lastHeard = now;
    this.pinged = false;
  }

  /** How long the peer has been silent. */
  silentFor(now: number): number {
    return now - this.lastHeard;
  }

  /** What to do now: send the one ping, give the peer up, or nothing. */
  check(now: number): 'ping' | 'gone' | null {
    const silent = now - this.lastHeard;
    if (silent >= this.intervalMs + this.timeoutMs) return 'gone';
    if (silent < this.intervalMs || this.pinged) return null;
    this.pinged = true;
    return 'ping';
  }
}
