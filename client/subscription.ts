import type { SockbusError } from '../protocol/index.js';
import type { Message } from './message.js';

export type MessageHandler<T = unknown> = (message: Message<T>) => void;

/** What a subscription needs from its client. */
export interface SubscriptionOwner {
  unsubscribe(subscription: Subscription<any>): void;
  /** Reports messages an unread iterator queue had to discard. */
  reportDropped(count: number): void;
}

/**
 * One subscription: delivers to its handler, or, without one, to a bounded
 * queue read with `for await`. The broker knows it by `id`.
 */
export class Subscription<T = unknown> implements AsyncIterable<Message<T>> {
  private readonly unread: Message<T>[] = [];
  private waiting: ((result: IteratorResult<Message<T>>) => void) | null = null;
  private failWaiting: ((error: SockbusError) => void) | null = null;
  private endedWith: SockbusError | 'done' | null = null;
  /** Messages this subscription received. */
  received = 0;

  constructor(
    private readonly owner: SubscriptionOwner,
    readonly id: number,
    readonly pattern: string,
    private readonly handler: MessageHandler<T> | undefined,
    private readonly maxQueued: number,
    /** The queue group this subscription is a member of, if any. */
    readonly queue?: string,
  ) {}

  get closed(): boolean {
    return this.endedWith !== null;
  }

  /** Stops receiving; pending `for await` loops end. */
  unsubscribe(): void {
    if (this.closed) return;
    this.owner.unsubscribe(this);
  }

  /** Called by the client for every message matching the pattern. */
  deliver(message: Message<T>): void {
    if (this.closed) return;
    this.received++;
    if (this.handler) {
      this.handler(message);
      return;
    }
    if (this.waiting) {
      const resume = this.waiting;
      this.clearWaiting();
      resume({ value: message, done: false });
      return;
    }
    if (this.unread.length >= this.maxQueued) {
      this.unread.shift();
      this.owner.reportDropped(1);
    }
    this.unread.push(message);
  }

  /** Called by the client when the subscription ends, with the error that ended it if any. */
  end(error?: SockbusError): void {
    if (this.closed) return;
    this.endedWith = error ?? 'done';
    if (error && this.failWaiting) this.failWaiting(error);
    else this.waiting?.({ value: undefined, done: true });
    this.clearWaiting();
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    return {
      next: () => this.next(),
      return: async () => {
        this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }

  private next(): Promise<IteratorResult<Message<T>>> {
    const queued = this.unread.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    if (this.endedWith === 'done') return Promise.resolve({ value: undefined, done: true });
    if (this.endedWith) return Promise.reject(this.endedWith);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  private clearWaiting(): void {
    this.waiting = null;
    this.failWaiting = null;
  }
}
