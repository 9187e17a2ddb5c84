import { describe, expect, it } from 'vitest';
import { patternMatches, patternProblem, topicProblem, TopicTrie } from '../../protocol/index.js';

describe('topic validation', () => {
  it.each([
    ['app.editor.saved', null],
    ['a', null],
    ['$SYS.stats', null],
    ['ünïcode.tøpic', null],
    ['', 'invalid topic "": it is empty'],
    ['a..b', 'invalid topic "a..b": empty token (two dots in a row, or a dot at either end)'],
    ['.a', 'invalid topic ".a": empty token (two dots in a row, or a dot at either end)'],
    ['a.', 'invalid topic "a.": empty token (two dots in a row, or a dot at either end)'],
    ['a b', 'invalid topic "a b": U+0020 is not allowed (no controls, spaces or invisible characters)'],
    ['a\tb', 'invalid topic "a\\tb": U+0009 is not allowed (no controls, spaces or invisible characters)'],
    ['a.\u0001', 'invalid topic "a.\\u0001": U+0001 is not allowed (no controls, spaces or invisible characters)'],
    ['a.*', 'invalid topic "a.*": wildcard "*" is not allowed in a publish topic'],
    ['a.>', 'invalid topic "a.>": wildcard ">" is not allowed in a publish topic'],
    ['x'.repeat(257), 'invalid topic: 257 bytes is longer than the limit of 256 bytes'],
  ])('topic %j → %j', (topic, problem) => {
    expect(topicProblem(topic)).toBe(problem);
  });

  it.each([
    ['a.*.c', null],
    ['a.>', null],
    ['>', null],
    ['*', null],
    ['*.*', null],
    ['a.>.c', 'invalid pattern "a.>.c": ">" must be the last token'],
    ['a.b*', 'invalid pattern "a.b*": "b*": a wildcard must be a whole token'],
    ['a.>x', 'invalid pattern "a.>x": ">x": a wildcard must be a whole token'],
    ['a..*', 'invalid pattern "a..*": empty token (two dots in a row, or a dot at either end)'],
    ['', 'invalid pattern "": it is empty'],
  ])('pattern %j → %j', (pattern, problem) => {
    expect(patternProblem(pattern)).toBe(problem);
  });
});

const matchTable: Array<[pattern: string, topic: string, matches: boolean]> = [
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.b.c', 'a.b.c.d', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.b.d', false],
  ['a.*.c', 'a.c', false],
  ['a.*', 'a.b', true],
  ['a.*', 'a.b.c', false],
  ['a.*', 'a', false],
  ['a.>', 'a.b', true],
  ['a.>', 'a.b.c.d', true],
  ['a.>', 'a', false],
  ['>', 'a', true],
  ['>', 'a.b.c', true],
  ['*', 'a', true],
  ['*', 'a.b', false],
  ['*.b.>', 'x.b.y', true],
  ['*.b.>', 'x.b', false],
  ['*.*.*', 'a.b.c', true],
  ['>', '$SYS.stats', false],
  ['*.stats', '$SYS.stats', false],
  ['$SYS.>', '$SYS.stats', true],
  ['$SYS.*', '$SYS.stats', true],
];

describe('matching', () => {
  it.each(matchTable)('%s ~ %s → %s', (pattern, topic, expected) => {
    expect(patternMatches(pattern, topic)).toBe(expected);
    const trie = new TopicTrie<string>();
    trie.add(pattern, 'subscriber');
    const found: string[] = [];
    trie.match(topic, (value) => found.push(value));
    expect(found.length === 1).toBe(expected);
  });

  it('the trie agrees with the plain rules on random patterns and topics', () => {
    const tokens = ['a', 'b', 'c'];
    let seed = 7;
    const pick = <T>(items: T[]) => items[(seed = (seed * 16807) % 2147483647) % items.length]!;
    const patterns: string[] = [];
    const trie = new TopicTrie<string>();
    for (let index = 0; index < 300; index++) {
      const length = 1 + (pick([0, 1, 2, 3]) as number);
      const parts = Array.from({ length }, (_, position) => {
        const token = pick([...tokens, '*', '>']);
        return token === '>' && position !== length - 1 ? '*' : token;
      });
      const pattern = parts.join('.');
      patterns.push(pattern);
      trie.add(pattern, pattern);
    }
    for (let index = 0; index < 300; index++) {
      const topic = Array.from({ length: 1 + (pick([0, 1, 2, 3]) as number) }, () => pick(tokens)).join('.');
      const found: string[] = [];
      trie.match(topic, (pattern) => found.push(pattern));
      const expected = patterns.filter((pattern) => patternMatches(pattern, topic));
      expect(found.sort()).toEqual(expected.sort());
    }
  });

  it('matching() gives each value once, and forgets its cached answers when patterns change', () => {
    const trie = new TopicTrie<string>();
    trie.add('a.>', 'wide');
    trie.add('a.b', 'wide'); // the same value by a second pattern
    trie.add('a.b', 'narrow');
    expect([...trie.matching('a.b')].sort()).toEqual(['narrow', 'wide']);
    expect(trie.matching('a.b')).toBe(trie.matching('a.b')); // served from the cache
    trie.remove('a.b', 'narrow');
    expect(trie.matching('a.b')).toEqual(['wide']);
    trie.add('*.b', 'late');
    expect([...trie.matching('a.b')].sort()).toEqual(['late', 'wide']);
    trie.remove('a.>', 'wide');
    trie.remove('a.b', 'wide');
    expect(trie.matching('a.b')).toEqual(['late']);
  });

  it('counts repeats and prunes emptied branches', () => {
    const trie = new TopicTrie<number>();
    trie.add('a.b', 1);
    trie.add('a.b', 1);
    trie.add('a.*', 2);
    expect(trie.size).toBe(3);
    const found = () => {
      const values: number[] = [];
      trie.match('a.b', (value) => values.push(value));
      return values.sort();
    };
    expect(found()).toEqual([1, 1, 2]);
    expect(trie.remove('a.b', 1)).toBe(true);
    expect(found()).toEqual([1, 2]);
    expect(trie.remove('a.b', 1)).toBe(true);
    expect(trie.remove('a.b', 1)).toBe(false);
    expect(trie.remove('a.*', 2)).toBe(true);
    expect(found()).toEqual([]);
    expect(trie.size).toBe(0);
    expect((trie as unknown as { root: { literal: Map<string, unknown> } }).root.literal.size).toBe(0);
  });
});
