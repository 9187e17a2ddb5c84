import type { Headers } from '../protocol/index.js';

/** The option and counter types of Client's methods. */

export interface PublishOptions {
  headers?: Headers;
  /** Keep this as the topic's last value: later subscribers get it first. Publishing null with retain clears it. */
  retain?: boolean;
}

export interface SubscribeOptions {
  /** Join this queue group: each message goes to one member of the group, not to all. */
  queue?: string;
}

export interface RequestOptions {
  headers?: Headers;
  /** Milliseconds to wait for a reply. @default the client's requestTimeoutMs, 5000 */
  timeout?: number;
}

export interface ClientCounters {
  published: number;
  received: number;
  /** Messages the broker discarded for this client (its buffer was full). */
  droppedByBroker: number;
  /** Messages this client discarded: offline queue, pending bound, unread iterator full, or a frame it could not decode. */
  droppedByClient: number;
  /** Publishes sent to a broker that went away before confirming them: they may or may not have arrived. */
  unconfirmed: number;
  reconnects: number;
  /** Replies that came after their request was settled, by an earlier reply or a timeout. */
  lateReplies: number;
  /** Subscription handlers that threw. */
  handlerFailures: number;
}
