import type net from 'node:net';
import {
  BROKER_FRAME_MARGIN_BYTES,
  BrokerEventMessage,
  encodeBody,
  ErrorCode,
  hasNilData,
  keptValueOf,
  partsLength,
  mebibytes,
  MessageKind,
  PublishedMessage,
  replyParts,
  retainedParts,
  VERSION,
  type ClientMessage,
  type KeptValue,
  type PublishFrame,
  type RespondFrame,
  type Subscribe,
} from '../protocol/index.js';
import { Connection, type ConnectionHost } from './connection.js';
import type { CredentialReader } from './credentials.js';
import { handleClientMessage, type HandlerContext } from './handlers.js';
import type { Logger } from './log.js';
import type { BrokerLimits, BrokerOptions } from './options.js';
import { Gatekeeper } from './gatekeeper.js';
import { presenceOf } from './presence.js';
import { MemoryBudget, REQUEST_COST_BYTES, RETAINED_ENTRY_COST_BYTES, type MemoryAccount } from './memory-budget.js';
import { isReplyAddress, PendingRequests } from './pending-requests.js';
import { StatsService } from './stats-service.js';
import type { StatsSources } from './stats-snapshot.js';
import { subscriptionCost } from './subscription-limits.js';
import { RetainedStore, sizeOf } from './retained-store.js';
import { Router, type BrokerSubscription } from './router.js';
import { InheritedSocket } from './socket-activation.js';
import { SocketOwner } from './socket-file.js';
import { StateFile } from './state-file.js';
import { BrokerCounters } from './stats.js';

/** Accepts connections, keeps the routing table and the counters, and shuts down cleanly. */
export class Broker implements ConnectionHost, HandlerContext {
  readonly counters = new BrokerCounters();
  readonly serverName = `sockbusd ${VERSION}`;
  private readonly router = new Router();
  private readonly retained: RetainedStore;
  private readonly stateFile: StateFile | null;
  private readonly pendingRequests: PendingRequests;
  private readonly connections = new Map<number, Connection>();
  private readonly gatekeeper: Gatekeeper;
  private readonly memory: MemoryBudget;
  private readonly statsService: StatsService;
  private readonly startedAt = Date.now();
  private nextConnectionId = 1;
  private readonly sweeper: NodeJS.Timeout;
  private shuttingDown = false;
  /** More sections for stats, from parts that live beside the broker (the bridge). */
  private readonly statsSections = new Map<string, () => unknown>();

  private socket: SocketOwner | InheritedSocket | null = null;

  constructor(
    private readonly options: BrokerOptions,
    readonly log: Logger,
    credentials: CredentialReader,
  ) {
    // A policy file that cannot be used stops the broker here, before it listens.
    this.memory = new MemoryBudget(options.limits, log);
    this.gatekeeper = new Gatekeeper(options, credentials, log, this.memory);
    // One timer for every connection's deadlines, rather than timers per connection.
    const { handshakeTimeoutMs, frameTimeoutMs, keepaliveMs } = options.limits;
    const sweepEveryMs = Math.min(1000, Math.max(20, Math.min(handshakeTimeoutMs, frameTimeoutMs, keepaliveMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs).unref();
    this.retained = new RetainedStore(options.limits);
    this.pendingRequests = new PendingRequests(options.limits.maxPendingRequests, options.limits.requestLifetimeMs);
    this.statsService = new StatsService(this.statsSources());
    this.stateFile = options.statePath ? new StateFile(options.statePath, log, () => this.retained.entries()) : null;
  }

  /**
   * Restores saved state, then serves the socket systemd passed (`activatedFd`)
   * or takes the socket path itself; rejects with why it cannot. Resolves
   * with the path it serves.
   */
  async listen(activatedFd: number | null = null): Promise<string> {
    await this.restoreState();
    const onConnection = (client: net.Socket) => this.accept(client);
    if (activatedFd !== null) {
      const inherited = await InheritedSocket.serve(activatedFd, this.log, onConnection);
      this.socket = inherited;
      return inherited.path;
    }
    const { socketPath, mode, socketCheckMs } = this.options;
    const owner = await SocketOwner.claim(socketPath, { mode, group: this.gatekeeper.socketGroup() }, this.log, onConnection);
    owner.watchFile(socketCheckMs);
    this.socket = owner;
    return socketPath;
  }

  get limits(): BrokerLimits {
    return this.options.limits;
  }

  handle(connection: Connection, message: ClientMessage): void {
    handleClientMessage(this, connection, message);
  }

  opened(connection: Connection): void {
    connection.markAnnounced();
    this.announce('$SYS.client.connected', presenceOf(connection));
  }

  forget(connection: Connection): void {
    for (const [subscriptionId] of connection.subscriptions.entries()) this.unsubscribe(connection, subscriptionId);
    this.pendingRequests.requesterGone(connection.id);
    this.statsService.forget(connection);
    if (!this.connections.delete(connection.id)) return;
    this.gatekeeper.released(connection);
    this.log.debug(`${connection.description} disconnected: ${connection.closeReason}`);
    if (connection.announced && !this.shuttingDown) {
      this.announce('$SYS.client.disconnected', { ...presenceOf(connection), reason: connection.closeReason });
    }
  }

  publish(publish: PublishFrame, from: Connection): void {
    this.counters.messagesIn++;
    if (publish.retain) this.retain(publish, from);
    this.router.route(new PublishedMessage(publish, from.stamp), from);
  }

  /**
   * Routes a request with a reply address of its own, remembering who it
   * reached: only they may answer it. Answers at once when nobody could.
   */
  request(publish: PublishFrame & { requestId: number }, from: Connection): void {
    this.counters.messagesIn++;
    this.counters.requests++;
    if (!from.account.hasRoomFor(REQUEST_COST_BYTES)) {
      from.account.noteRefused('refused', from.description);
      const message = `${from.access.who} is at its memory share of ${mebibytes(from.account.limitBytes)} (--max-memory-per-uid): its clients must read what waits for them first`;
      return this.refuseRequest(from, publish.requestId, { code: ErrorCode.OverMemoryShare, message });
    }
    const pending = this.pendingRequests.open(from.id, publish.requestId, from.account, Date.now());
    if (!pending) {
      const message = `this connection already has ${this.limits.maxPendingRequests} requests awaiting an answer, the most the broker allows (--max-requests)`;
      return this.refuseRequest(from, publish.requestId, { code: ErrorCode.TooManyRequests, message });
    }
    const reached: Connection[] = [];
    this.router.route(new PublishedMessage(publish, from.stamp, pending.address), from, reached);
    for (const responder of reached) pending.request.responders.add(responder.id);
    if (reached.length > 0) return;
    this.pendingRequests.cancel(pending.address);
    this.counters.noResponders++;
    this.refuseRequest(from, publish.requestId, { code: ErrorCode.NoResponders, message: `no responders: nothing subscribes to ${publish.topic}` });
  }

  /** Answers a request with an error of the broker's own: a reply for its id, with no sender. */
  refuseRequest(requester: Connection, requestId: number, refusal: { code: ErrorCode; message: string }): void {
    this.counters.errors++;
    requester.send(encodeBody({ kind: MessageKind.Reply, requestId, data: null, error: { code: refusal.code, message: refusal.message } }));
  }

  /** Passes an answer to its requester, if the request is pending and this connection was asked. */
  respond(respond: RespondFrame, from: Connection): void {
    const about = { kind: MessageKind.Respond, reply: respond.replyTo };
    if (!isReplyAddress(respond.replyTo)) {
      const message = `respond: ${JSON.stringify(respond.replyTo)} is not a reply address this broker gives out (16 base64url characters)`;
      return from.refuseFrame({ code: ErrorCode.InvalidReplyAddress, message }, about);
    }
    // Refused, it is no answer: the request still awaits one.
    if (respond.refusal) return from.refuseFrame(respond.refusal, about);
    const request = this.pendingRequests.answer(respond.replyTo, from.id);
    if (request === 'not-asked') {
      // Someone answering a request that was never delivered to them: a forgery, or a guess.
      this.counters.repliesRefused++;
      this.log.debug(`${from.description}: refused an answer to a request it was not asked`);
      return;
    }
    const requester = request === 'unknown' ? undefined : this.connections.get(request.requesterId);
    if (request === 'unknown' || !requester) {
      // Already answered, expired, from before a restart, or the requester is gone: like NATS, the reply has nowhere to go.
      this.counters.repliesUndeliverable++;
      return;
    }
    this.counters.replies++;
    const parts = replyParts(respond, request.requestId, from.stamp);
    requester.deliver(parts, partsLength(parts));
  }

  subscribe(connection: Connection, { subscriptionId, pattern, queue }: Subscribe & { pattern: string }): void {
    const subscription = this.router.add(connection, subscriptionId, pattern, queue);
    connection.subscriptions.add(subscriptionId, subscription);
    chargeSubscription(connection.account, subscription, 1);
    // Before the replay and any live message: the client starts dispatching to it from here (PROTOCOL.md §3.7).
    connection.send(encodeBody({ kind: MessageKind.Subscribed, subscriptionId }));
    // A queue group shares live work; replaying old values to each new member would duplicate them.
    if (queue !== undefined) return;
    for (const value of this.retained.matching(pattern)) {
      if (connection.withholds(value.topic)) continue;
      const parts = retainedParts(value, subscriptionId);
      connection.deliver(parts, partsLength(parts));
    }
  }

  unsubscribe(connection: Connection, subscriptionId: number): void {
    const subscription = connection.subscriptions.delete(subscriptionId)!;
    this.router.remove(connection, subscription);
    chargeSubscription(connection.account, subscription, -1);
  }

  /** Adds a section to every stats answer, computed when asked. */
  addStatsSection(name: string, section: () => unknown): void {
    this.statsSections.set(name, section);
  }

  /** Answers a stats request, at the asker's user's rate. */
  stats(asker: Connection, token: number): void {
    this.statsService.request(asker, token);
  }

  /** What stats answers are made of. */
  private statsSources(): StatsSources {
    return {
      serverName: this.serverName,
      maxAnswerBytes: this.limits.maxFrameBytes + BROKER_FRAME_MARGIN_BYTES,
      startedAt: this.startedAt,
      counters: this.counters,
      connections: this.connections,
      memory: this.memory,
      socketPath: () => this.socket?.path ?? this.options.socketPath,
      socketProblem: () => this.socket?.problem ?? null,
      acceptFailures: () => this.socket?.acceptFailures.count ?? 0,
      subscriptions: () => this.router.size,
      pendingRequests: () => this.pendingRequests.size,
      retained: () => ({ count: this.retained.count, bytes: this.retained.totalBytes }),
      policySource: () => this.gatekeeper.policySource,
      seesEveryone: (asker) => this.gatekeeper.seesEveryone(asker),
      sections: () => Object.fromEntries([...this.statsSections].map(([name, section]) => [name, section()])),
    };
  }

  /**
   * Stops accepting (removing the socket file if it is still ours), tells
   * every client the broker is going away, and lets their buffers flush,
   * bounded by the close timeout.
   */
  async shutdown(reason: string): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.sweeper);
    this.statsService.stop();
    this.socket?.close();
    const goingAway = encodeBody({ kind: MessageKind.GoingAway, reason });
    const closed = [...this.connections.values()].map((connection) => {
      connection.send(goingAway);
      connection.close();
      return connection.closed;
    });
    await Promise.all(closed);
    await this.stateFile?.flush();
  }

  private accept(client: net.Socket): void {
    const { identity, refusal } = this.gatekeeper.identify(client);
    const connection = new Connection(this.nextConnectionId++, client, this, identity);
    this.counters.connectionsTotal++;
    if (refusal) {
      this.counters.connectionsRefused++;
      this.gatekeeper.noteRefusal(identity, refusal);
      connection.refuseAtTheDoor(refusal);
      return;
    }
    this.connections.set(connection.id, connection);
    this.gatekeeper.admitted(connection);
    this.log.debug(`connection ${connection.id} accepted from ${connection.access.who}`);
  }

  noteDenied(connection: Connection): void {
    this.counters.denied++;
    connection.counters.denied++;
  }

  /** Whether deliveries carry their senders' credentials: the broker reads them for every connection, or none. */
  get stampsSenders(): boolean {
    return this.gatekeeper.ownSender !== undefined;
  }

  /**
   * Reads the policy file again (SIGHUP). A file that does not parse is
   * reported and the policy in force stays. Connections stay up; their
   * subscriptions the new policy no longer allows are ended with an error.
   */
  reloadPolicy(): void {
    if (!this.gatekeeper.reload(this.connections.values())) return;
    let revoked = 0;
    for (const connection of this.connections.values()) {
      for (const [subscriptionId, { pattern }] of connection.subscriptions.entries()) {
        const refusal = connection.access.subscribeRefusal(pattern);
        if (!refusal) continue;
        this.unsubscribe(connection, subscriptionId);
        this.noteDenied(connection);
        const message = `${refusal} (the reloaded policy ended this subscription)`;
        connection.refuseFrame({ code: ErrorCode.AccessDenied, message }, { sub: subscriptionId });
        revoked++;
      }
    }
    this.log.info(`reloaded the access policy from ${this.gatekeeper.policySource}; ${revoked} subscription(s) it no longer allows were ended`);
  }

  /** Keeps or clears the topic's retained value; a refusal is reported, and the publish is still delivered. */
  private retain(publish: PublishFrame, from: Connection): void {
    const value = hasNilData(publish) ? null : keptValueOf(publish, from.stamp?.sender);
    if (value && !from.account.hasRoomFor(retainedCost(publish.topic, value))) {
      from.account.noteRefused('refused', from.description);
      const message = `${publish.topic} was delivered but not retained: ${from.access.who} is at its memory share of ${mebibytes(from.account.limitBytes)} (--max-memory-per-uid)`;
      return this.refuseRetain(from, publish.topic, message);
    }
    const refusal = this.keepRetained(publish.topic, value);
    if (refusal) {
      this.refuseRetain(from, publish.topic, refusal);
    } else {
      this.stateFile?.requestSave();
    }
  }

  private refuseRetain(from: Connection, topic: string, message: string): void {
    this.counters.retainedRefused++;
    from.refuseFrame({ code: ErrorCode.RetainedStoreFull, message }, { kind: MessageKind.Publish, topic });
  }

  /** Sets a retained value, moving its cost from the previous publisher's account to the new one's. */
  private keepRetained(topic: string, value: KeptValue | null): string | null {
    const previous = this.retained.get(topic);
    const refusal = this.retained.set(topic, value);
    if (refusal) return refusal;
    if (previous) this.retainedOwner(previous).release(retainedCost(topic, previous));
    if (value) this.retainedOwner(value).charge(retainedCost(topic, value));
    return null;
  }

  /** The account a retained value counts against: its publisher's user. */
  private retainedOwner(value: KeptValue): MemoryAccount {
    const uid = value.sender?.uid ?? null;
    return this.memory.accountFor(uid, uid === null ? 'a peer of unknown identity' : `uid ${uid}`);
  }

  private async restoreState(): Promise<void> {
    if (!this.stateFile) return;
    const saved = await this.stateFile.load();
    let refused = 0;
    for (const entry of saved) if (this.keepRetained(entry.topic, entry)) refused++;
    await this.stateFile.saveNow();
    const note = refused ? `; ${refused} did not fit the retained bounds and were left out` : '';
    this.log.info(`restored ${saved.length - refused} retained values from ${this.stateFile.path}${note}`);
  }

  /** Publishes one of the broker's own events to whoever subscribes to it. */
  private announce(topic: string, data: unknown): void {
    this.router.route(new BrokerEventMessage(topic, data, this.gatekeeper.ownSender), null);
  }

  private sweep(): void {
    const now = Date.now();
    this.pendingRequests.expire(now);
    for (const connection of this.connections.values()) {
      try {
        connection.checkDeadlines(now);
      } catch (error) {
        // A bug of ours on one connection ends that connection, never the broker.
        this.log.error(`${connection.description}: internal error in its deadlines: ${(error as Error).stack ?? String(error)}`);
        connection.destroy();
      }
    }
  }
}

/** Counts a subscription in (direction 1) or out of (-1) its user's account. */
/** What a retained value makes the broker hold: its bytes, its entry and its place in the index. */
function retainedCost(topic: string, value: KeptValue): number {
  return RETAINED_ENTRY_COST_BYTES + 2 * Buffer.byteLength(topic) + sizeOf(value);
}

function chargeSubscription(account: MemoryAccount, { pattern, member }: BrokerSubscription, direction: 1 | -1): void {
  const cost = subscriptionCost(pattern);
  if (direction === 1) account.charge(cost);
  else account.release(cost);
  account.patternBytes += direction * Buffer.byteLength(pattern);
  account.subscriptions += direction;
  if (member) account.queueSubscriptions += direction;
}
