import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat } from '../../client/heartbeat.js';

describe('Heartbeat', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const clock = {
    now: () => Date.now(),
    setInterval: (callback: () => void, ms: number) => setInterval(callback, ms),
    clearInterval: (handle: unknown) => clearInterval(handle as NodeJS.Timeout),
  };

  it('pings after the interval of silence, and gives up after the timeout more', () => {
    const ping = vi.fn();
    const onTimeout = vi.fn();
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping, onTimeout, clock });
    heartbeat.start();
    vi.advanceTimersByTime(999);
    expect(ping).not.toHaveBeenCalled();
    vi.advanceTimersByTime(250);
    expect(ping).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(250);
    expect(ping).toHaveBeenCalledTimes(1); // one ping per silence, not one per check
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(250);
    expect(onTimeout).toHaveBeenCalledTimes(1);
    expect(onTimeout.mock.calls[0]![0]).toBeGreaterThanOrEqual(1500);
    vi.advanceTimersByTime(10_000);
    expect(onTimeout).toHaveBeenCalledTimes(1); // stopped itself
  });

  it('a question left unanswered past the same bound ends the peer, however much else it says (row: lying broker)', () => {
    const onTimeout = vi.fn();
    const onUnanswered = vi.fn();
    let asked: { askedAt: number; what: string } | null = null;
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping: vi.fn(), onTimeout, oldestUnanswered: () => asked, onUnanswered, clock });
    heartbeat.start();
    asked = { askedAt: Date.now(), what: 'a ping' };
    for (let step = 0; step < 7; step++) {
      vi.advanceTimersByTime(200);
      heartbeat.heard(); // chatty: never silent
    }
    expect(onUnanswered).not.toHaveBeenCalled();
    vi.advanceTimersByTime(250);
    expect(onUnanswered).toHaveBeenCalledTimes(1);
    expect(onUnanswered.mock.calls[0]![0]).toBe('a ping');
    expect(onUnanswered.mock.calls[0]![1]).toBeGreaterThanOrEqual(1500);
    expect(onTimeout).not.toHaveBeenCalled();
  });

  it('a silent peer is reported as silent, not as one that left a question unanswered', () => {
    const onTimeout = vi.fn();
    const onUnanswered = vi.fn();
    const asked = { askedAt: Date.now(), what: 'a ping' };
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping: vi.fn(), onTimeout, oldestUnanswered: () => asked, onUnanswered, clock });
    heartbeat.start();
    vi.advanceTimersByTime(2000);
    expect([onTimeout.mock.calls.length, onUnanswered.mock.calls.length]).toEqual([1, 0]);
  });

  it('any sign of life resets the silence', () => {
    const ping = vi.fn();
    const onTimeout = vi.fn();
    const heartbeat = new Heartbeat({ intervalMs: 1000, timeoutMs: 500, ping, onTimeout, clock });
    heartbeat.start();
    for (let step = 0; step < 20; step++) {
      vi.advanceTimersByTime(800);
      heartbeat.heard();
    }
    expect(ping).not.toHaveBeenCalled();
    expect(onTimeout).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1250);
    expect(ping).toHaveBeenCalledTimes(1);
    heartbeat.heard();
    vi.advanceTimersByTime(1250);
    expect(ping).toHaveBeenCalledTimes(2);
    heartbeat.stop();
    vi.advanceTimersByTime(10_000);
    expect(onTimeout).not.toHaveBeenCalled();
  });
});
