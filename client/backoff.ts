/** Given how many attempts failed in a row, how long to wait before the next; null gives up. */
export type ReconnectPolicy = (attempt: number) => number | null;

export interface BackoffOptions {
  /** Delay after the first failure. @default 20 */
  initialDelayMs?: number;
  /** Upper bound of any delay. @default 2000 */
  maxDelayMs?: number;
  /** Attempts before giving up. @default Infinity */
  maxAttempts?: number;
  /** Source of randomness in [0, 1), injectable for tests. @default Math.random */
  random?: () => number;
}

/**
 * Capped exponential backoff with "equal jitter": after the n-th failure in
 * a row the delay is drawn uniformly from [b/2, b), b = min(max, initial ×
 * 2^n), so clients of a restarted broker spread out instead of dialling in
 * lockstep, and none retries a dead path in a tight loop (PROTOCOL.md §8).
 */
export function exponentialBackoff(options: BackoffOptions = {}): ReconnectPolicy {
  const { initialDelayMs = 20, maxDelayMs = 2000, maxAttempts = Infinity, random = Math.random } = options;
  return (attempt) => {
    if (attempt >= maxAttempts) return null;
    const bound = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
    return Math.round(bound / 2 + (random() * bound) / 2);
  };
}
