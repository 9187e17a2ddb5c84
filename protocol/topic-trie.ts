import { BoundedCache } from './bounded-cache.js';
import { SINGLE_WILDCARD, TAIL_WILDCARD, TOKEN_SEPARATOR } from './topics.js';

/**
 * One level of the trie. Values are counted, so the same value may hold the
 * same pattern more than once (two subscriptions of one connection) and is
 * removed only when the last one goes. Each map exists only once it holds
 * something: most nodes are leaves with one value, and three empty maps
 * per node were most of what an idle subscription cost (bench (g)).
 */
class TrieNode<T> {
  literal: Map<string, TrieNode<T>> | null = null;
  single: TrieNode<T> | null = null;
  /** Values whose pattern ends here with `>`. */
  tail: Map<T, number> | null = null;
  /** Values whose pattern ends exactly here. */
  exact: Map<T, number> | null = null;

  isEmpty(): boolean {
    return !this.literal?.size && this.single === null && !this.tail?.size && !this.exact?.size;
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
  /** Values held by the cached answers together. */
  private cachedValues = 0;

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
    increment(endsWithTail ? (node.tail ??= new Map()) : (node.exact ??= new Map()), value);
    this.patternCount++;
    this.forgetAnswers();
  }

  /** Removes one (pattern, value) pair; returns false when it was not stored. */
  remove(pattern: string, value: T): boolean {
    const tokens = pattern.split(TOKEN_SEPARATOR);
    const removed = removeFrom(this.root, tokens, 0, value);
    if (removed) {
      this.patternCount--;
      this.forgetAnswers();
    }
    return removed;
  }

  private forgetAnswers(): void {
    this.answers.clear();
    this.cachedValues = 0;
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
    // Each value once: a value holding one pattern many times costs one visit, not one per repeat.
    matchFrom(this.root, topic.split(TOKEN_SEPARATOR), 0, (value) => found.add(value), !topic.startsWith('$'), false);
    const answer = [...found];
    // The cache is bounded by the values it holds, not only by topics: answers
    // of thousands of values for topics never seen twice would otherwise pile up.
    if (answer.length > MAX_CACHED_ANSWER) return answer;
    this.cachedValues += answer.length;
    if (this.cachedValues > MAX_CACHED_VALUES) {
      this.answers.clear();
      this.cachedValues = answer.length;
    }
    return this.answers.set(topic, answer);
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
    matchFrom(this.root, tokens, 0, visit, wildcardsAtRoot, true);
  }
}

/** Answers with more values than this are not cached: one would hold a large share of the cache's bound. */
const MAX_CACHED_ANSWER = 4096;
/** Values all cached answers of one trie may hold together (a pointer each): bounded memory whatever topics come. */
const MAX_CACHED_VALUES = 65_536;

function childFor<T>(node: TrieNode<T>, token: string): TrieNode<T> {
  const literal = (node.literal ??= new Map());
  let child = literal.get(token);
  if (!child) {
    child = new TrieNode<T>();
    literal.set(token, child);
  }
  return child;
}

function increment<T>(counts: Map<T, number>, value: T): void {
  counts.set(value, (counts.get(value) ?? 0) + 1);
}

function decrement<T>(counts: Map<T, number> | null, value: T): boolean {
  const count = counts?.get(value);
  if (count === undefined) return false;
  if (count === 1) counts!.delete(value);
  else counts!.set(value, count - 1);
  return true;
}

function removeFrom<T>(node: TrieNode<T>, tokens: string[], index: number, value: T): boolean {
  const token = tokens[index];
  if (token === undefined) return decrement(node.exact, value);
  if (token === TAIL_WILDCARD) return decrement(node.tail, value);
  const child = token === SINGLE_WILDCARD ? node.single : node.literal?.get(token);
  if (!child || !removeFrom(child, tokens, index + 1, value)) return false;
  // Prune emptied branches so memory follows the live subscriptions.
  if (child.isEmpty()) {
    if (token === SINGLE_WILDCARD) node.single = null;
    else node.literal!.delete(token);
  }
  return true;
}

function matchFrom<T>(
  node: TrieNode<T>,
  tokens: string[],
  index: number,
  visit: (value: T) => void,
  wildcardsAllowed: boolean,
  repeats: boolean,
): void {
  if (index === tokens.length) {
    visitAll(node.exact, visit, repeats);
    return;
  }
  if (wildcardsAllowed) visitAll(node.tail, visit, repeats);
  const literal = node.literal?.get(tokens[index]!);
  if (literal) matchFrom(literal, tokens, index + 1, visit, true, repeats);
  if (wildcardsAllowed && node.single) matchFrom(node.single, tokens, index + 1, visit, true, repeats);
}

/** Visits each value, once per pattern it holds there when `repeats` is set. */
function visitAll<T>(counts: Map<T, number> | null, visit: (value: T) => void, repeats: boolean): void {
  if (!counts) return;
  for (const [value, count] of counts) {
    if (!repeats) visit(value);
    else for (let repeat = 0; repeat < count; repeat++) visit(value);
  }
}
