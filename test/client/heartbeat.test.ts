import { describe, expect, it } from 'vitest';
import { Heartbeat, type Clock } from '../../client/heartbeat.js';

/**
 * A clock the test moves by hand: the heartbeat's timers run when the test
 * advances past them, in time order, and nothing else reads the real time.
 */
class ManualClock implements Clock {
  private time = 0;
  private nextHandle = 1;
  private readonly intervals = new Map<number, { callback: () => void; everyMs: number; dueAt: number }>();

  now(): number {
    return this.time;
  }

  setInterval(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.intervals.set(handle, { callback, everyMs: ms, dueAt: this.time + ms });
    return handle;
  }

  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as number);
  }

  /** Moves time on by `ms`, running every interval that falls due on the way, at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: { callback: () => void; everyMs: number; dueAt: number } | undefined;
      for (const interval of this.intervals.values()) if (interval.dueAt <= end && (!next || interval.dueAt < next.dueAt)) next = interval;
      if (!next) break;
      this.time = next.dueAt;
      next.dueAt += next.everyMs;
      next.callback();
    }
    this.time = end;
  }

  get pendingIntervals(): number {
    return this.intervals.size;
  }
}

/** What a heartbeat reported, in order. */
function recorder() {
  const events: string[] = [];
  return {
    events,
    ping: () => events.push('ping'),
    onTimeout: (silentMs: number) => events.push(`timeout after ${silentMs}`),
    onUnanswered: (what: string, waitedMs: number) => events.push(`${what} unanswered after ${waitedMs}`),
  };
}

describe('Heartbeat, on an injected clock', () => {
  it('pings after the interval of silence, and gives up after the timeout more', () => {
    const clock = new ManualClock();
    const seen = recorder();
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping: seen.ping, onTimeout: seen.onTimeout, clock });
    heartbeat.start();
    clock.advance(999);
    expect(seen.events).toEqual([]);
    clock.advance(250);
    expect(seen.events).toEqual(['ping']);
    clock.advance(250);
    expect(seen.events).toEqual(['ping']); // one ping per silence, not one per check
    clock.advance(250);
    expect(seen.events).toEqual(['ping', 'timeout after 1500']);
    clock.advance(10_000);
    expect(seen.events).toHaveLength(2); // stopped itself
    expect(clock.pendingIntervals).toBe(0);
  });

  it('a question left unanswered past the same bound ends the peer, however much else it says (row: lying broker)', () => {
    const clock = new ManualClock();
    const seen = recorder();
    let asked: { askedAt: number; what: string } | null = null;
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ...seen, oldestUnanswered: () => asked, clock });
    heartbeat.start();
    asked = { askedAt: clock.now(), what: 'a ping' };
    for (let step = 0; step < 7; step++) {
      clock.advance(200);
      heartbeat.heard(); // chatty: never silent
    }
    expect(seen.events).toEqual([]);
    clock.advance(250);
    expect(seen.events).toEqual(['a ping unanswered after 1500']);
  });

  it('a silent peer is reported as silent, not as one that left a question unanswered', () => {
    const clock = new ManualClock();
    const seen = recorder();
    const asked = { askedAt: clock.now(), what: 'a ping' };
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ...seen, oldestUnanswered: () => asked, clock });
    heartbeat.start();
    clock.advance(2000);
    expect(seen.events).toEqual(['ping', 'timeout after 1500']);
  });

  it('any sign of life resets the silence, and stop() ends the checks', () => {
    const clock = new ManualClock();
    const seen = recorder();
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping: seen.ping, onTimeout: seen.onTimeout, clock });
    heartbeat.start();
    for (let step = 0; step < 20; step++) {
      clock.advance(800);
      heartbeat.heard();
    }
    expect(seen.events).toEqual([]);
    clock.advance(1250);
    expect(seen.events).toEqual(['ping']);
    heartbeat.heard();
    clock.advance(1250);
    expect(seen.events).toEqual(['ping', 'ping']);
    heartbeat.stop();
    expect(clock.pendingIntervals).toBe(0);
    clock.advance(10_000);
    expect(seen.events).toEqual(['ping', 'ping']);
  });
});
