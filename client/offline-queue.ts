/**
 * Publishes waiting for a connection, oldest first, bounded in count and
 * bytes. When full, the oldest give way to the newest and are counted.
 */
export class OfflineQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds a frame body; returns how many older ones were dropped to make room. */
  push(body: Uint8Array): number {
    let dropped = 0;
    while (this.length > 0 && (this.length + 1 > this.maxMessages || this.bytes + body.length > this.maxBytes)) {
      this.shift();
      dropped++;
    }
    if (body.length > this.maxBytes || this.maxMessages === 0) return dropped + 1;
    this.items.push(body);
    this.bytes += body.length;
    return dropped;
  }

  /** Removes and returns everything, oldest first. */
  drain(): Uint8Array[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return all;
  }

  private shift(): void {
    const oldest = this.items[this.head]!;
    this.items[this.head++] = EMPTY;
    this.bytes -= oldest.length;
    // Compact now and then so the array does not grow with every drop.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
