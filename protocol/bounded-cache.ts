/**
 * A memo for values derived from topics, which repeat heavily on a bus.
 * Bounded by emptying itself when full: simple, never larger than `limit`,
 * and a workload with more distinct topics than that only loses the speedup.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit = 4096) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): V {
    if (this.entries.size >= this.limit) this.entries.clear();
    this.entries.set(key, value);
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
