import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { patternMatches } from '../../protocol/index.js';
import { type KeptValue } from '../../broker/delivery.js';
import { RetainedStore } from '../../broker/retained-store.js';

const token = fc.constantFrom('a', 'b', 'c', '$x');
const topic = fc.array(token, { minLength: 1, maxLength: 4 }).map((tokens) => tokens.join('.'));
const pattern = fc
  .array(fc.constantFrom('a', 'b', 'c', '$x', '*'), { minLength: 1, maxLength: 4 })
  .chain((tokens) => fc.boolean().map((tail) => (tail ? [...tokens.slice(0, -1), '>'] : tokens).join('.')));
const value = (n: number): KeptValue => ({ topicAndData: Buffer.from([n & 0x7f]), headers: Buffer.from([0xc0]) });

describe('retained replay through the topic index', () => {
  // Attack row: "subscribe/unsubscribe churn with 10,000 retained values": every subscribe scanned the whole store.
  it('finds exactly the values the plain matching rule finds, in the order they were last set', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(topic, fc.boolean()), { maxLength: 40 }), pattern, (changes, subscribed) => {
        const store = new RetainedStore({ maxRetained: 1000, maxRetainedBytes: 1 << 20 });
        const order: string[] = [];
        changes.forEach(([changed, clear], index) => {
          store.set(changed, clear ? null : value(index));
          const at = order.indexOf(changed);
          if (at !== -1) order.splice(at, 1);
          if (!clear) order.push(changed);
        });
        const expected = order.filter((kept) => patternMatches(subscribed, kept));
        expect(store.matching(subscribed).map((entry) => entry.topic)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('prunes emptied levels, so clearing every value leaves nothing to walk', () => {
    const store = new RetainedStore({ maxRetained: 100, maxRetainedBytes: 1 << 20 });
    for (let index = 0; index < 50; index++) store.set(`a.${index}.b`, value(index));
    for (let index = 0; index < 50; index++) store.set(`a.${index}.b`, null);
    expect(store.matching('>')).toEqual([]);
    expect(store.matching('a.*.b')).toEqual([]);
    expect(store.count).toBe(0);
  });
});
