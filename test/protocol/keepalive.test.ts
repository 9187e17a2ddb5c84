import { describe, expect, it } from 'vitest';
import { Keepalive } from '../../protocol/index.js';

describe('the keepalive rule both ends apply', () => {
  it('pings once after the interval of silence, gives the peer up after the timeout more, and starts again on any sign of life', () => {
    const keepalive = new Keepalive(100, 50, 1_000);
    expect([1_050, 1_099].map((now) => keepalive.check(now))).toEqual([null, null]);
    expect(keepalive.check(1_100)).toBe('ping');
    expect(keepalive.check(1_120)).toBeNull();
    expect(keepalive.check(1_150)).toBe('gone');
    keepalive.heard(1_160);
    expect([keepalive.check(1_200), keepalive.check(1_260), keepalive.silentFor(1_300)]).toEqual([null, 'ping', 140]);
  });
});
