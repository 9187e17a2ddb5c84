import { describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../broker/memory-budget.js';
import { Logger } from '../../broker/log.js';

describe('memory budget', () => {
  const budget = () => new MemoryBudget({ maxMemoryBytes: 100, maxMemoryPerUidBytes: 60 }, new Logger('error'));

  it('holds each user to its share, and releases what it gives back', () => {
    const memory = budget();
    const alice = memory.accountFor(1000, 'alice');
    alice.charge(60);
    expect(alice.hasRoomFor(1)).toBe(false);
    alice.release(10);
    expect(alice.hasRoomFor(10)).toBe(true);
    expect(memory.totalBytes).toBe(50);
  });

  it('when the whole is used, holds back only the users above an even split, so a newcomer still has room', () => {
    const memory = budget();
    const alice = memory.accountFor(1000, 'alice');
    const bob = memory.accountFor(1001, 'bob');
    alice.charge(60);
    bob.charge(40);
    expect(memory.totalBytes).toBe(100);
    const carol = memory.accountFor(1002, 'carol');
    // Three users: an even split is 33 each. Alice and Bob are above it; Carol is not.
    expect(alice.hasRoomFor(1)).toBe(false);
    expect(bob.hasRoomFor(1)).toBe(false);
    expect(carol.hasRoomFor(30)).toBe(true);
    expect(carol.hasRoomFor(34)).toBe(false);
  });

  it('counts refusals, and logs the first of an episode only, until the user is well below its share again', () => {
    const lines: string[] = [];
    const log = new Logger('warn', (line) => lines.push(line));
    const memory = new MemoryBudget({ maxMemoryBytes: 100, maxMemoryPerUidBytes: 60 }, log);
    const alice = memory.accountFor(1000, 'alice');
    alice.charge(60);
    alice.noteRefused('dropped', 'connection 1');
    alice.noteRefused('dropped', 'connection 2');
    expect(alice.dropped).toBe(2);
    alice.release(50);
    alice.charge(50);
    alice.noteRefused('refused', 'connection 3');
    expect(alice.refused).toBe(1);
    expect(lines.length).toBe(2);
  });
});
