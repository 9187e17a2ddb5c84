import { ErrorCode, mebibytes, SINGLE_WILDCARD, TOKEN_SEPARATOR, type Refusal } from '../protocol/index.js';
import type { Connection } from './connection.js';
import { PATTERN_TOKEN_COST_BYTES, SUBSCRIPTION_COST_BYTES } from './memory-budget.js';
import type { BrokerLimits } from './options.js';
import type { SubscriptionSet } from './subscription-set.js';

export type SubscriptionRefusal = Refusal;

/** What a subscription makes the broker hold, for the memory account: its entry, its trie nodes, its pattern. */
export function subscriptionCost(pattern: string): number {
  return SUBSCRIPTION_COST_BYTES + PATTERN_TOKEN_COST_BYTES * tokenCount(pattern) + Buffer.byteLength(pattern);
}

/**
 * Why the broker will not hold this subscription for this connection, or
 * null. The bounds on tokens and wildcards per pattern bound the work of
 * matching a topic the broker has not seen before, whatever patterns are
 * held: a topic only visits trie nodes whose path is its own tokens with
 * at most that many of them replaced by `*`. The byte bounds and the
 * memory share bound what one connection and one user can make it hold.
 */
export function subscriptionRefusal(connection: Connection, held: Readonly<SubscriptionSet>, pattern: string, queue: string | undefined, limits: BrokerLimits): SubscriptionRefusal | null {
  const tokens = tokenCount(pattern);
  if (tokens > limits.maxPatternTokens) {
    return complex(`pattern ${pattern} has ${tokens} tokens, more than the ${limits.maxPatternTokens} the broker allows (--max-pattern-tokens)`);
  }
  const wildcards = pattern.split(TOKEN_SEPARATOR).filter((token) => token === SINGLE_WILDCARD).length;
  if (wildcards > limits.maxPatternWildcards) {
    return complex(`pattern ${pattern} has ${wildcards} * wildcards, more than the ${limits.maxPatternWildcards} the broker allows (--max-pattern-wildcards)`);
  }
  if (held.size >= limits.maxSubscriptionsPerConnection) {
    return tooMany(`this connection already holds ${limits.maxSubscriptionsPerConnection} subscriptions, the most the broker allows (--max-subscriptions)`);
  }
  const bytes = Buffer.byteLength(pattern);
  if (held.patternBytes + bytes > limits.maxPatternBytesPerConnection) {
    return tooMany(`this connection's patterns would take more than the ${limits.maxPatternBytesPerConnection} bytes the broker allows one connection (--max-pattern-bytes)`);
  }
  const account = connection.account;
  // Every queue subscription a publish matches is looked at to pick one member per group: bounded per user.
  if (queue !== undefined && account.queueSubscriptions >= limits.maxQueueSubscriptionsPerUid) {
    return tooMany(`${connection.access.who} already holds ${limits.maxQueueSubscriptionsPerUid} queue group subscriptions, the most the broker allows one user (--max-queue-subscriptions-per-uid)`);
  }
  if (account.patternBytes + bytes > limits.maxPatternBytesPerUid) {
    return tooMany(`the patterns of ${connection.access.who} would take more than the ${limits.maxPatternBytesPerUid} bytes the broker allows one user (--max-pattern-bytes-per-uid)`);
  }
  if (!account.hasRoomFor(subscriptionCost(pattern))) {
    account.noteRefused('refused', connection.description);
    return {
      code: ErrorCode.OverMemoryShare,
      message: `${connection.access.who} is at its memory share of ${mebibytes(account.limitBytes)} (--max-memory-per-uid): its clients hold ${mebibytes(account.usedBytes)}; read what is waiting or unsubscribe first`,
    };
  }
  return null;
}

function tokenCount(pattern: string): number {
  let count = 1;
  for (let index = pattern.indexOf(TOKEN_SEPARATOR); index !== -1; index = pattern.indexOf(TOKEN_SEPARATOR, index + 1)) count++;
  return count;
}

function complex(message: string): SubscriptionRefusal {
  return { code: ErrorCode.PatternTooComplex, message };
}

function tooMany(message: string): SubscriptionRefusal {
  return { code: ErrorCode.TooManySubscriptions, message };
}
