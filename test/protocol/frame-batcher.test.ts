import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameBatcher } from '../../protocol/index.js';

/** A batcher writing into an array, flushed when the test says (as a socket's microtask would). */
function recordingBatcher() {
  const written: Buffer[] = [];
  let pendingFlush: (() => void) | null = null;
  const batcher = new FrameBatcher({ write: (bytes) => written.push(Buffer.from(bytes)), heldBytes: () => 0, schedule: (flush) => (pendingFlush = flush) });
  return { batcher, written, runScheduled: () => pendingFlush?.() };
}

/** Appends a body of `size` bytes that say which frame it is, and what it must come out as. */
function appendNumbered(batcher: FrameBatcher, expected: Buffer[], size: number, index: number): void {
  const body = Buffer.alloc(size, index % 251);
  batcher.append(body);
  expected.push(encodeFrame(body));
}

describe('the frame batcher', () => {
  it('writes exactly the frames appended, in order, whatever their sizes and however the flushes fall', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 70_000 }), fc.boolean()), { maxLength: 40 }), (frames) => {
        const { batcher, written, runScheduled } = recordingBatcher();
        const expected: Buffer[] = [];
        frames.forEach(([size, flushAfter], index) => {
          appendNumbered(batcher, expected, size, index);
          if (flushAfter) runScheduled();
        });
        batcher.flush();
        expect(Buffer.concat(written).equals(Buffer.concat(expected))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('writes a burst in one write per 64 KiB chunk', () => {
    const { batcher, written } = recordingBatcher();
    for (let index = 0; index < 2000; index++) batcher.append(Buffer.alloc(96));
    batcher.flush();
    // 2000 frames of 100 bytes: 200,000 bytes in four writes, as many whole frames as a chunk holds in each.
    expect(written.map((bytes) => bytes.length)).toEqual([65500, 65500, 65500, 3500]);
  });

  it('lets its buffer go only when nothing waits in it, and writes exactly the frames appended around releases', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 9_000 }), fc.constantFrom('none', 'release', 'flush', 'flush-release')), { maxLength: 40 }), (steps) => {
        const { batcher, written, runScheduled } = recordingBatcher();
        const expected: Buffer[] = [];
        steps.forEach(([size, after], index) => {
          appendNumbered(batcher, expected, size, index);
          if (after.startsWith('flush')) runScheduled();
          if (after.endsWith('release')) batcher.release();
          // A release never drops what is queued.
          if (after === 'release') expect(batcher.bufferedBytes).toBeGreaterThan(0);
        });
        batcher.flush();
        expect(Buffer.concat(written).equals(Buffer.concat(expected))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

