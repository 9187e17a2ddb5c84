import { BoundedCache } from './bounded-cache.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { refusedCharacterIn } from './characters.js';
import { MAX_TOPIC_BYTES } from './limits.js';

export const TOKEN_SEPARATOR = '.';
/** Matches exactly one token. */
export const SINGLE_WILDCARD = '*';
/** Matches one or more tokens; only as the last token of a pattern. */
export const TAIL_WILDCARD = '>';
/** Topics the broker itself publishes on; clients may subscribe but not publish. */
export const SYSTEM_PREFIX = '$SYS.';

/**
 * Describes what is wrong with a topic a client wants to publish on, or
 * returns null when it is valid.
 */
export function topicProblem(topic: string): string | null {
  return nameProblem(topic, false);
}

/** Describes what is wrong with a subscription pattern, or returns null. */
export function patternProblem(pattern: string): string | null {
  return nameProblem(pattern, true);
}

export function assertValidPattern(pattern: unknown): asserts pattern is string {
  const problem = typeof pattern === 'string' ? patternProblem(pattern) : 'pattern must be a string';
  if (problem) throw new ProtocolError(ErrorCode.InvalidPattern, problem);
}

/** Longest queue group name, in UTF-8 bytes. */
export const MAX_QUEUE_NAME_BYTES = 64;

/** Describes what is wrong with a queue group name, or returns null. */
export function queueNameProblem(name: string): string | null {
  if (name.length === 0) return 'invalid queue group name "": it is empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_QUEUE_NAME_BYTES) return `invalid queue group name: ${bytes} bytes is longer than the limit of ${MAX_QUEUE_NAME_BYTES} bytes`;
  const refused = refusedCharacterIn(name);
  if (refused) return `invalid queue group name ${JSON.stringify(name)}: ${refused} is not allowed (no controls, spaces or invisible characters)`;
  return null;
}

/** Longest header name, in UTF-8 bytes. */
export const MAX_HEADER_NAME_BYTES = 256;

/** Describes what is wrong with a header name (PROTOCOL.md §4.4), or returns null. */
export function headerNameProblem(name: string): string | null {
  if (name.length === 0) return 'invalid header name "": it is empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_HEADER_NAME_BYTES) return `invalid header name: ${bytes} bytes is longer than the limit of ${MAX_HEADER_NAME_BYTES} bytes`;
  const refused = name.includes(':') ? '":"' : refusedCharacterIn(name);
  if (refused) return `invalid header name ${JSON.stringify(name)}: ${refused} is not allowed (no colon, controls, spaces or invisible characters)`;
  return null;
}

export function isSystemTopic(topic: string): boolean {
  return topic.startsWith(SYSTEM_PREFIX);
}

/** Why a client may not publish on a topic: invalid, or the broker's own. */
export interface PublishRefusal {
  code: typeof ErrorCode.InvalidTopic | typeof ErrorCode.ReservedTopic;
  message: string;
}

// Topics repeat, and checking one costs a regex and a split: remember verdicts.
const publishVerdicts = new BoundedCache<string, PublishRefusal | null>();

/** Why `topic` cannot be published on, or null; the one rule client and broker both apply. */
export function publishRefusal(topic: string): PublishRefusal | null {
  const known = publishVerdicts.get(topic);
  if (known !== undefined) return known;
  const problem = topicProblem(topic);
  if (problem) return publishVerdicts.set(topic, { code: ErrorCode.InvalidTopic, message: problem });
  if (isSystemTopic(topic)) {
    const message = `topic ${topic} is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them`;
    return publishVerdicts.set(topic, { code: ErrorCode.ReservedTopic, message });
  }
  return publishVerdicts.set(topic, null);
}

/** Throws the refusal publishRefusal() finds, for callers that stop on it. */
export function assertPublishable(topic: string): void {
  const refusal = publishRefusal(topic);
  if (refusal) throw new ProtocolError(refusal.code, refusal.message);
}

function nameProblem(name: string, wildcardsAllowed: boolean): string | null {
  const what = wildcardsAllowed ? 'pattern' : 'topic';
  if (name.length === 0) return `invalid ${what} "": it is empty`;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_TOPIC_BYTES) {
    return `invalid ${what}: ${bytes} bytes is longer than the limit of ${MAX_TOPIC_BYTES} bytes`;
  }
  const refused = refusedCharacterIn(name);
  if (refused) return `invalid ${what} ${JSON.stringify(name)}: ${refused} is not allowed (no controls, spaces or invisible characters)`;
  const tokens = name.split(TOKEN_SEPARATOR);
  for (let index = 0; index < tokens.length; index++) {
    const problem = tokenProblem(tokens[index]!, index === tokens.length - 1, wildcardsAllowed);
    if (problem) return `invalid ${what} ${JSON.stringify(name)}: ${problem}`;
  }
  return null;
}

function tokenProblem(token: string, isLast: boolean, wildcardsAllowed: boolean): string | null {
  if (token.length === 0) return 'empty token (two dots in a row, or a dot at either end)';
  const hasWildcard = token.includes(SINGLE_WILDCARD) || token.includes(TAIL_WILDCARD);
  if (!hasWildcard) return null;
  if (!wildcardsAllowed) return `wildcard "${token}" is not allowed in a publish topic`;
  if (token === SINGLE_WILDCARD) return null;
  if (token === TAIL_WILDCARD) return isLast ? null : '">" must be the last token';
  return `"${token}": a wildcard must be a whole token`;
}

/**
 * Whether a valid pattern matches a valid topic. The routing trie does the
 * same job fast; this is the plain statement of the rules it must follow.
 * A leading wildcard does not match `$`-topics, so `>` alone never
 * receives the broker's `$SYS.` events by accident (MQTT has the same rule).
 */
export function patternMatches(pattern: string, topic: string): boolean {
  const patternTokens = pattern.split(TOKEN_SEPARATOR);
  const topicTokens = topic.split(TOKEN_SEPARATOR);
  const first = patternTokens[0];
  if ((first === SINGLE_WILDCARD || first === TAIL_WILDCARD) && topic.startsWith('$')) return false;
  for (let index = 0; index < patternTokens.length; index++) {
    const token = patternTokens[index];
    if (token === TAIL_WILDCARD) return topicTokens.length > index;
    if (index >= topicTokens.length) return false;
    if (token !== SINGLE_WILDCARD && token !== topicTokens[index]) return false;
  }
  return patternTokens.length === topicTokens.length;
}

/**
 * Whether every topic `inner` matches is also matched by `outer` (both valid
 * patterns): what an access rule must satisfy to allow a subscription.
 */
export function patternCovers(outer: string, inner: string): boolean {
  const outerTokens = outer.split(TOKEN_SEPARATOR);
  const innerTokens = inner.split(TOKEN_SEPARATOR);
  const outerFirst = outerTokens[0];
  // A leading wildcard in `outer` skips `$`-topics, which a literal `$` token in `inner` names.
  if ((outerFirst === SINGLE_WILDCARD || outerFirst === TAIL_WILDCARD) && innerTokens[0]!.startsWith('$')) return false;
  for (let index = 0; index < outerTokens.length; index++) {
    const outerToken = outerTokens[index];
    const innerToken = innerTokens[index];
    if (outerToken === TAIL_WILDCARD) return innerToken !== undefined;
    if (innerToken === undefined || innerToken === TAIL_WILDCARD) return false;
    if (outerToken === SINGLE_WILDCARD) continue;
    if (innerToken === SINGLE_WILDCARD || innerToken !== outerToken) return false;
  }
  return outerTokens.length === innerTokens.length;
}

/** Throws INVALID_DATA for the first header name PROTOCOL.md §4.4 does not allow; the broker would refuse the message. */
export function assertValidHeaders(headers: Record<string, string> | undefined): void {
  if (!headers) return;
  for (const name of Object.keys(headers)) {
    const problem = headerNameProblem(name);
    if (problem) throw new ProtocolError(ErrorCode.InvalidData, problem);
  }
}
