import { ErrorCode, SockbusError, TopicTrie, type Delivery } from '../protocol/index.js';
import type { Message } from './message.js';
import type { Subscription } from './subscription.js';

/**
 * The client's subscriptions, and which of them a delivery is for
 * (PROTOCOL.md §3.7): the one its `sub` names, else every plain
 * subscription the broker acknowledged on this connection whose pattern
 * matches. A handler that throws is reported, never breaks the others.
 */
export class SubscriptionTable {
  private readonly byId = new Map<number, Subscription<any>>();
  /** Plain subscriptions the broker said it holds on this connection (subscribed frames): the ones plain deliveries go to. */
  private readonly routes = new TopicTrie<Subscription<any>>();
  private readonly routed = new Set<Subscription<any>>();

  constructor(private readonly onHandlerFailure: (failure: SockbusError) => void) {}

  add(subscription: Subscription<any>): void {
    this.byId.set(subscription.id, subscription);
  }

  get(id: number): Subscription<any> | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<Subscription<any>> {
    return this.byId.values();
  }

  /** Removes a subscription and ends it; false when it was already gone. */
  forget(subscription: Subscription<any>, error?: SockbusError): boolean {
    if (!this.byId.delete(subscription.id)) return false;
    if (this.routed.delete(subscription)) this.routes.remove(subscription.pattern, subscription);
    subscription.end(error);
    return true;
  }

  /** Ends every subscription, with why when the client gave up. */
  endAll(reason: SockbusError | undefined): void {
    for (const subscription of this.byId.values()) subscription.end(reason);
    this.byId.clear();
  }

  /** A new connection: no subscription is held by the broker until it says so again. */
  newConnection(): void {
    for (const subscription of this.routed) this.routes.remove(subscription.pattern, subscription);
    this.routed.clear();
  }

  /** The broker holds this subscription now: plain deliveries after its subscribed frame are its to receive. */
  acknowledged(subscriptionId: number): void {
    const subscription = this.byId.get(subscriptionId);
    if (!subscription || subscription.queue !== undefined || this.routed.has(subscription)) return;
    this.routed.add(subscription);
    this.routes.add(subscription.pattern, subscription);
  }

  /** Hands a message to its subscriptions; one no longer held is dropped without a word. */
  dispatch(delivery: Delivery, message: Message): void {
    const sub = delivery.info?.sub;
    if (sub !== undefined) {
      const subscription = this.byId.get(sub);
      if (subscription) this.deliverTo(subscription, message);
      return;
    }
    for (const subscription of this.routes.matching(delivery.topic)) this.deliverTo(subscription, message);
  }

  private deliverTo(subscription: Subscription<any>, message: Message): void {
    try {
      subscription.deliver(message);
    } catch (error) {
      this.onHandlerFailure(new SockbusError(ErrorCode.HandlerFailed, `handler of ${subscription.pattern} threw: ${(error as Error).message}`, { cause: error }));
    }
  }
}
