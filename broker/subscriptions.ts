import { encodeBody, ErrorCode, MessageKind, type Subscribe } from '../protocol/index.js';
import type { Connection } from './connection.js';
import type { MemoryAccount } from './memory-budget.js';
import type { RetainedValues } from './retained-values.js';
import type { BrokerSubscription, Router } from './router.js';
import { subscriptionCost } from './subscription-limits.js';
import { SubscriptionSet } from './subscription-set.js';

const NONE = new SubscriptionSet();

/**
 * Taking and ending subscriptions: the connection's set, the router's
 * tries and the user's account change together, and every subscription
 * taken is acknowledged before its replay (PROTOCOL.md §3.4, §3.13).
 */
export class Subscriptions {
  /** Each connection's subscriptions by the id its client gave them: this is their one owner. */
  private readonly byConnection = new Map<Connection, SubscriptionSet>();

  constructor(
    private readonly router: Router,
    private readonly retained: RetainedValues,
  ) {}

  /** What a connection holds (empty for one that holds nothing). */
  of(connection: Connection): Readonly<SubscriptionSet> {
    return this.byConnection.get(connection) ?? NONE;
  }

  /** The plain subscription a request on `topic` goes to on this connection (PROTOCOL.md §3.12). */
  requestReceiver(connection: Connection, topic: string): number | undefined {
    return this.byConnection.get(connection)?.requestReceiver(topic);
  }

  /** Subscriptions held, every connection's. */
  get size(): number {
    return this.router.size;
  }

  take(connection: Connection, { subscriptionId, pattern, queue }: Subscribe & { pattern: string }): void {
    const subscription = this.router.add(connection, subscriptionId, pattern, queue);
    let held = this.byConnection.get(connection);
    if (!held) this.byConnection.set(connection, (held = new SubscriptionSet()));
    held.add(subscriptionId, subscription);
    charge(connection.account, subscription, 1);
    // Before the replay and any live message: the client starts dispatching to it from here.
    connection.send(encodeBody({ kind: MessageKind.Subscribed, subscriptionId }));
    // A queue group shares live work; replaying old values to each new member would duplicate them.
    if (queue === undefined) this.router.replay(connection, subscriptionId, this.retained.matching(pattern));
  }

  end(connection: Connection, subscriptionId: number): void {
    const held = this.byConnection.get(connection);
    const subscription = held?.delete(subscriptionId);
    if (!subscription) return;
    if (held!.size === 0) this.byConnection.delete(connection);
    this.router.remove(connection, subscription);
    charge(connection.account, subscription, -1);
  }

  /** Ends every subscription of a connection that has gone. */
  endAll(connection: Connection): void {
    for (const [subscriptionId] of [...this.of(connection).entries()]) this.end(connection, subscriptionId);
  }

  /** Ends the subscriptions a reloaded policy no longer allows, telling each connection which; returns how many. */
  revokeDisallowed(connections: Iterable<Connection>, onRevoked: (connection: Connection) => void): number {
    let revoked = 0;
    for (const connection of connections) {
      for (const [subscriptionId, { pattern }] of [...this.of(connection).entries()]) {
        const refusal = connection.access.subscribeRefusal(pattern);
        if (!refusal) continue;
        this.end(connection, subscriptionId);
        onRevoked(connection);
        const message = `${refusal} (the reloaded policy ended this subscription)`;
        connection.refuseFrame({ code: ErrorCode.AccessDenied, message }, { sub: subscriptionId });
        revoked++;
      }
    }
    return revoked;
  }
}

/** Counts a subscription in (direction 1) or out of (-1) its user's account. */
function charge(account: MemoryAccount, { pattern, member }: BrokerSubscription, direction: 1 | -1): void {
  const cost = subscriptionCost(pattern);
  if (direction === 1) account.charge(cost);
  else account.release(cost);
  account.patternBytes += direction * Buffer.byteLength(pattern);
  account.subscriptions += direction;
  if (member) account.queueSubscriptions += direction;
}
