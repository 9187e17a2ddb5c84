import { BoundedCache } from './bounded-cache.js';
import { SINGLE_WILDCARD, TAIL_WILDCARD, TOKEN_SEPARATOR } from './topics.js';

/**
 * One level of the trie. Values are counted, so the same value may hold the
 * same pattern more than once (two subscriptions of one connection) and is
 * removed only when the last one goes.
 */
class TrieNode<T> {
  readonly literal = new Map<string, TrieNode<T>>();
  single: TrieNode<T> | null = null;
  /** Values whose pattern ends here with `>`. */
  readonly tail = new Map<T, number>();
  /** Values whose pattern ends exactly here. */
  readonly exact = new Map<T, number>();

  isEmpty(): boolean {
    return this.literal.size === 0 && this.single === null && this.tail.size === 0 && this.exact.size === 0;
  }
}

/**
 * Routes topics to the values whose patterns match them. A lookup walks one
 * path per topic token (plus the `*` branches), so its cost depends on the
 * topic and on the matching patterns, not on how many unrelated patterns
 * are stored. Patterns must already be valid.
 */
export class TopicTrie<T> {
  private readonly root = new TrieNode<T>();
  private patternCount = 0;
  /** Answers of matching(), per topic, until the patterns change. */
  private readonly answers = new BoundedCache<string, readonly T[]>();

  /** Stored (pattern, value) pairs, counting repeats. */
  get size(): number {
    return this.patternCount;
  }

  add(pattern: string, value: T): void {
    let node = this.root;
    let endsWithTail = false;
    for (const token of pattern.split(TOKEN_SEPARATOR)) {
      if (token === TAIL_WILDCARD) {
        endsWithTail = true;
        break;
      }
      node = token === SINGLE_WILDCARD ? (node.single ??= new TrieNode()) : childFor(node, token);
    }
    increment(endsWithTail ? node.tail : node.exact, value);
    this.patternCount++;
    this.answers.clear();
  }

  /** Removes one (pattern, value) pair; returns false when it was not stored. */
  remove(pattern: string, value: T): boolean {
    const tokens = pattern.split(TOKEN_SEPARATOR);
    const removed = removeFrom(this.root, tokens, 0, value);
    if (removed) {
      this.patternCount--;
      this.answers.clear();
    }
    return removed;
  }

  /**
   * The values with a pattern matching the topic, each once however many of
   * its patterns match. Cached per topic until the patterns change: topics
   * repeat heavily on a bus, so a steady stream costs one map lookup per
   * message. The array is shared; callers must not change it.
   */
  matching(topic: string): readonly T[] {
    const known = this.answers.get(topic);
    if (known) return known;
    const found = new Set<T>();
    this.match(topic, (value) => found.add(value));
    return this.answers.set(topic, [...found]);
  }

  /**
   * Calls `visit` for each value with a pattern matching the topic, once per
   * matching pattern: a value stored under two matching patterns is visited
   * twice, and callers that need each value once deduplicate.
   */
  match(topic: string, visit: (value: T) => void): void {
    const tokens = topic.split(TOKEN_SEPARATOR);
    // A leading wildcard does not match `$`-topics (see patternMatches).
    const wildcardsAtRoot = !topic.startsWith('$');
    matchFrom(this.root, tokens, 0, visit, wildcardsAtRoot);
  }
}

function childFor<T>(node: TrieNode<T>, token: string): TrieNode<T> {
  let child = node.literal.get(token);
  if (!child) {
    child = new TrieNode<T>();
    node.literal.set(token, child);
  }
  return child;
}

function increment<T>(counts: Map<T, number>, value: T): void {
  counts.set(value, (counts.get(value) ?? 0) + 1);
}

function decrement<T>(counts: Map<T, number>, value: T): boolean {
  const count = counts.get(value);
  if (count === undefined) return false;
  if (count === 1) counts.delete(value);
  else counts.set(value, count - 1);
  return true;
}

function removeFrom<T>(node: TrieNode<T>, tokens: string[], index: number, value: T): boolean {
  const token = tokens[index];
  if (token === undefined) return decrement(node.exact, value);
  if (token === TAIL_WILDCARD) return decrement(node.tail, value);
  const child = token === SINGLE_WILDCARD ? node.single : node.literal.get(token);
  if (!child || !removeFrom(child, tokens, index + 1, value)) return false;
  // Prune emptied branches so memory follows the live subscriptions.
  if (child.isEmpty()) {
    if (token === SINGLE_WILDCARD) node.single = null;
    else node.literal.delete(token);
  }
  return true;
}

function matchFrom<T>(
  node: TrieNode<T>,
  tokens: string[],
  index: number,
  visit: (value: T) => void,
  wildcardsAllowed: boolean,
): void {
  if (index === tokens.length) {
    visitAll(node.exact, visit);
    return;
  }
  if (wildcardsAllowed) visitAll(node.tail, visit);
  const literal = node.literal.get(tokens[index]!);
  if (literal) matchFrom(literal, tokens, index + 1, visit, true);
  if (wildcardsAllowed && node.single) matchFrom(node.single, tokens, index + 1, visit, true);
}

function visitAll<T>(counts: Map<T, number>, visit: (value: T) => void): void {
  for (const [value, count] of counts) {
    for (let repeat = 0; repeat < count; repeat++) visit(value);
  }
}
