import { TopicTrie } from '../protocol/index.js';
import { partsLength, retainedParts, type OutgoingMessage } from './delivery.js';
import type { RetainedEntry } from './retained-store.js';
import type { Connection } from './connection.js';

/** One subscription of a queue group: the group gets each message once, through one of its members. */
export class QueueMember {
  constructor(
    readonly connection: Connection,
    readonly subscriptionId: number,
    readonly group: string,
  ) {}
}

/** A subscription as the broker keeps it, per connection. */
export interface BrokerSubscription {
  readonly pattern: string;
  /** Set for a queue group subscription. */
  readonly member: QueueMember | null;
}

/** Where a group's round robin stands, and how many members keep it alive. */
interface GroupTurn {
  members: number;
  turn: number;
}

/**
 * Decides who receives a message: every plain subscriber whose pattern
 * matches, once per connection, plus one member of each queue group with a
 * matching member. The plain path is what every publish pays for; queue
 * groups cost nothing until someone joins one.
 */
export class Router {
  private readonly plain = new TopicTrie<Connection>();
  private readonly queued = new TopicTrie<QueueMember>();
  private readonly turns = new Map<string, GroupTurn>();
  /** The members matching a topic, split by group; follows the trie's own per-topic cache. */
  private readonly byGroup = new WeakMap<readonly QueueMember[], QueueMember[][]>();

  /** `requestReceiver` names the subscription of a connection a request goes to: the subscriptions' owner knows. */
  constructor(private readonly requestReceiver: (connection: Connection, topic: string) => number | undefined) {}

  /** Subscriptions held, plain and queue. */
  get size(): number {
    return this.plain.size + this.queued.size;
  }

  add(connection: Connection, subscriptionId: number, pattern: string, queue?: string): BrokerSubscription {
    if (queue === undefined) {
      this.plain.add(pattern, connection);
      return { pattern, member: null };
    }
    const member = new QueueMember(connection, subscriptionId, queue);
    this.queued.add(pattern, member);
    const turn = this.turns.get(queue);
    if (turn) turn.members++;
    else this.turns.set(queue, { members: 1, turn: 0 });
    return { pattern, member };
  }

  remove(connection: Connection, subscription: BrokerSubscription): void {
    const { pattern, member } = subscription;
    if (!member) {
      this.plain.remove(pattern, connection);
      return;
    }
    this.queued.remove(pattern, member);
    const turn = this.turns.get(member.group)!;
    if (--turn.members === 0) this.turns.delete(member.group);
  }

  /** Sends the message to its receivers; returns how many there were, and adds them to `reached` when given. */
  route(message: OutgoingMessage, from: Connection | null, reached?: Connection[]): number {
    let receivers = 0;
    const subscribers = this.plain.matching(message.topic);
    if (subscribers.length > 0 && message.isRequest) {
      receivers += this.deliverRequest(subscribers, message, from, reached);
    } else if (subscribers.length > 0) {
      const parts = message.plainParts();
      const bytes = partsLength(parts);
      for (const subscriber of subscribers) {
        if (!receives(subscriber, from, message.topic)) continue;
        subscriber.deliver(parts, bytes);
        reached?.push(subscriber);
        receivers++;
      }
    }
    if (this.queued.size === 0) return receivers;
    for (const members of this.groupsMatching(message.topic)) {
      const member = this.deliverToOne(members, message, from);
      if (!member) continue;
      reached?.push(member.connection);
      receivers++;
    }
    return receivers;
  }

  /** Replays retained values to one new subscription, least recently set first (PROTOCOL.md §3.13). */
  replay(connection: Connection, subscriptionId: number, values: Iterable<RetainedEntry>): void {
    for (const value of values) {
      if (!receives(connection, null, value.topic)) continue;
      const parts = retainedParts(value, subscriptionId);
      connection.deliver(parts, partsLength(parts));
    }
  }

  /** A request reaches one subscription per connection, so it is answered once per connection. */
  private deliverRequest(subscribers: readonly Connection[], message: OutgoingMessage, from: Connection | null, reached?: Connection[]): number {
    let receivers = 0;
    for (const subscriber of subscribers) {
      if (!receives(subscriber, from, message.topic)) continue;
      const subscriptionId = this.requestReceiver(subscriber, message.topic);
      if (subscriptionId === undefined) continue;
      const parts = message.partsFor(subscriptionId);
      subscriber.deliver(parts, partsLength(parts));
      reached?.push(subscriber);
      receivers++;
    }
    return receivers;
  }

  /**
   * Round robin over the group, skipping members that cannot take the
   * message now (buffer full, closing). When none can, the one whose turn
   * it was gets it, and its slow-consumer policy counts the drop.
   */
  private deliverToOne(members: readonly QueueMember[], message: OutgoingMessage, from: Connection | null): QueueMember | null {
    const turn = this.turns.get(members[0]!.group)!;
    const start = turn.turn++;
    let fallback: QueueMember | null = null;
    for (let offset = 0; offset < members.length; offset++) {
      const member = members[(start + offset) % members.length]!;
      if (!receives(member.connection, from, message.topic)) continue;
      const parts = message.partsFor(member.subscriptionId);
      const bytes = partsLength(parts);
      if (member.connection.hasRoomFor(bytes)) {
        member.connection.deliver(parts, bytes);
        return member;
      }
      fallback ??= member;
    }
    if (!fallback) return null;
    const parts = message.partsFor(fallback.subscriptionId);
    fallback.connection.deliver(parts, partsLength(parts));
    return fallback;
  }

  private groupsMatching(topic: string): QueueMember[][] {
    const members = this.queued.matching(topic);
    let groups = this.byGroup.get(members);
    if (!groups) {
      const split = new Map<string, QueueMember[]>();
      for (const member of members) {
        const group = split.get(member.group);
        if (group) group.push(member);
        else split.set(member.group, [member]);
      }
      groups = [...split.values()];
      this.byGroup.set(members, groups);
    }
    return groups;
  }
}

/**
 * The one check every topic delivery passes: not back to a noEcho
 * publisher, and not a topic the receiver's access policy withholds.
 */
function receives(receiver: Connection, from: Connection | null, topic: string): boolean {
  if (receiver === from && from.noEcho) return false;
  return !receiver.withholds(topic);
}
