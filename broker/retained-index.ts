import { SINGLE_WILDCARD, TAIL_WILDCARD, TOKEN_SEPARATOR } from '../protocol/index.js';

/** One level of the index: the topics below, by their next token. */
class TopicNode<T> {
  readonly children = new Map<string, TopicNode<T>>();
  value: T | undefined = undefined;
}

/**
 * The retained topics as a trie of their tokens, so a new subscription
 * finds the values its pattern matches by walking the pattern: a literal
 * token follows one branch, `*` every branch of one level, `>` every topic
 * below. The work is proportional to what matches (and the levels on the
 * way), not to how many values are retained.
 */
export class RetainedIndex<T> {
  private readonly root = new TopicNode<T>();

  set(topic: string, value: T): void {
    let node = this.root;
    for (const token of topic.split(TOKEN_SEPARATOR)) {
      let child = node.children.get(token);
      if (!child) node.children.set(token, (child = new TopicNode<T>()));
      node = child;
    }
    node.value = value;
  }

  delete(topic: string): void {
    const path: Array<[TopicNode<T>, string]> = [];
    let node = this.root;
    for (const token of topic.split(TOKEN_SEPARATOR)) {
      const child = node.children.get(token);
      if (!child) return;
      path.push([node, token]);
      node = child;
    }
    node.value = undefined;
    // Prune emptied levels so the index follows the retained values.
    for (let index = path.length - 1; index >= 0; index--) {
      const [parent, token] = path[index]!;
      const child = parent.children.get(token)!;
      if (child.value !== undefined || child.children.size > 0) return;
      parent.children.delete(token);
    }
  }

  /** The values whose topics the pattern matches, in no particular order. */
  matching(pattern: string): T[] {
    const found: T[] = [];
    collect(this.root, pattern.split(TOKEN_SEPARATOR), 0, found, true);
    return found;
  }
}

function collect<T>(node: TopicNode<T>, tokens: string[], index: number, found: T[], atRoot: boolean): void {
  if (index === tokens.length) {
    if (node.value !== undefined) found.push(node.value);
    return;
  }
  const token = tokens[index]!;
  if (token === TAIL_WILDCARD || token === SINGLE_WILDCARD) {
    for (const [childToken, child] of node.children) {
      // A leading wildcard does not match `$`-topics (see patternMatches).
      if (atRoot && childToken.startsWith('$')) continue;
      if (token === TAIL_WILDCARD) collectAll(child, found);
      else collect(child, tokens, index + 1, found, false);
    }
    return;
  }
  const child = node.children.get(token);
  if (child) collect(child, tokens, index + 1, found, false);
}

function collectAll<T>(node: TopicNode<T>, found: T[]): void {
  if (node.value !== undefined) found.push(node.value);
  for (const child of node.children.values()) collectAll(child, found);
}
