import { EventEmitter } from 'eventemitter3';
import {
  assertPublishable,
  assertValidHeaders,
  assertValidPattern,
  DEFAULT_MAX_FRAME_BYTES,
  encodeBody,
  encodePublishBody,
  encodePublishParts,
  encodeRespondBody,
  ErrorCode,
  MessageKind,
  ProtocolError,
  queueNameProblem,
  SockbusError,
  TopicTrie,
  type BrokerMessage,
  type BrokerStats,
  type ClientEntry,
  type Delivery,
  type Headers,
  type ReplyError,
} from '../protocol/index.js';
import type net from 'node:net';
import { checkBroker, type BrokerCheck } from './broker-trust.js';
import { connectionInfo, type ClientEvents, type ClientState } from './events.js';
import { Message, type Responder } from './message.js';
import { OfflineQueue } from './offline-queue.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
import { PendingRequests, type Reply } from './requests.js';
import { Session } from './session.js';
import { SOCKET_POLL_MS, socketAppearedDelay, socketFileChanged, socketFileIdentity } from './socket-watch.js';
import { Subscription, type MessageHandler, type SubscriptionOwner } from './subscription.js';

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

/** A session that lasted this long was a good one: the backoff starts afresh after it. */
const STABLE_SESSION_MS = 1000;

/** Connects to the broker; rejects if none answers, unless `waitForBroker` is set. */
export async function connect(options: ClientOptions = {}): Promise<Client> {
  const client = new Client(options);
  await client.started;
  return client;
}

/**
 * A connection to sockbusd that survives broker restarts: it reconnects
 * with backoff, restores its subscriptions, then sends what was published
 * while it was away.
 */
export class Client extends EventEmitter<ClientEvents> implements SubscriptionOwner, Responder {
  /** Resolves after the first handshake; rejects if it cannot happen. */
  readonly started: Promise<void>;
  /** Settles when the client is closed for good: undefined after close(), the error if reconnecting gave up. */
  readonly closed: Promise<SockbusError | undefined>;
  readonly counters: ClientCounters = {
    published: 0,
    received: 0,
    droppedByBroker: 0,
    droppedByClient: 0,
    unconfirmed: 0,
    reconnects: 0,
    lateReplies: 0,
    handlerFailures: 0,
  };
  private stateValue: ClientState = 'connecting';
  private session: Session | null = null;
  private readonly subscriptions = new Map<number, Subscription<any>>();
  /** Plain subscriptions by pattern; queue group members get their messages by subscription id. */
  /** Plain subscriptions the broker said it holds on this session (subscribed frames): the ones plain deliveries go to. */
  private readonly routes = new TopicTrie<Subscription<any>>();
  private readonly routed = new Set<Subscription<any>>();
  private readonly requests = new PendingRequests(() => this.counters.lateReplies++);
  private readonly offline: OfflineQueue;
  private nextSubscriptionId = 1;
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private connectedWaiters: Array<() => void> = [];
  private cancelSleep: (() => void) | null = null;
  /** Set by close(): the signal the loop acts on. */
  private closeRequested = false;
  /** Aborted by close(): a handshake under way gives up at once. */
  private readonly closing = new AbortController();
  /** The one loop that owns every transition: connecting, connected, reconnecting, closed. */
  private readonly loop: Promise<void>;
  private markClosed!: (error: SockbusError | undefined) => void;
  private markStarted!: () => void;
  /** Rejects `started`; a no-op once it has settled. */
  private failStart!: (error: unknown) => void;
  private readonly options: ResolvedClientOptions;
  private warnedWeakCheck = false;
  private warnedUnheardFailure = false;

  /** Starts connecting at once; listen for `connect` or await `started`. */
  constructor(options: ClientOptions = {}) {
    super();
    this.options = resolveClientOptions(options);
    this.offline = new OfflineQueue(this.options.offlineQueueMessages, this.options.offlineQueueBytes);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.started = new Promise((resolve, reject) => {
      this.markStarted = resolve;
      this.failStart = reject;
    });
    // Nobody may be awaiting `started` when a later failure happens; that is not unhandled.
    this.started.catch(() => undefined);
    this.loop = this.run().catch(this.failStart);
  }

  get state(): ClientState {
    // close() is a signal the loop acts on; from the caller's side the client is closed at once.
    if (this.closeRequested) return 'closed';
    return this.stateValue;
  }

  /** Encodes and sends a message, or queues it while disconnected. Throws on an invalid topic or an oversize message. */
  publish(topic: string, data: unknown, options: PublishOptions = {}): void {
    this.assertOpen();
    assertPublishable(topic); // before anything is sent: the broker would refuse it
    assertValidHeaders(options.headers);
    const parts = encodePublishParts(topic, data, options.headers, options.retain ? { retain: true } : undefined);
    let bodyBytes = 0;
    for (const part of parts) bodyBytes += part.length;
    this.assertFits(bodyBytes);
    this.counters.published++;
    if (this.session?.isOpen) this.sendNow(parts, bodyBytes);
    else this.sendLater(Buffer.concat(parts, bodyBytes));
  }

  /**
   * Publishes a request and resolves with the first reply. Rejects with
   * NO_RESPONDERS at once when nothing subscribes to the topic, REQUEST_TIMEOUT
   * when no reply comes in time, the responder's error when it answers
   * with one, and CONNECTION_CLOSED when the broker goes away first.
   */
  async request<T = unknown>(topic: string, data: unknown, options: RequestOptions = {}): Promise<Reply<T>> {
    this.assertOpen();
    assertPublishable(topic);
    assertValidHeaders(options.headers);
    const timeoutMs = options.timeout ?? this.options.requestTimeoutMs;
    const { id, reply } = this.requests.create<T>(topic, timeoutMs);
    const body = encodePublishBody(topic, data, options.headers, { request: id });
    try {
      this.assertFits(body.length);
    } catch (error) {
      this.requests.fail(id, error as SockbusError);
      return reply;
    }
    this.counters.published++;
    if (this.session?.isOpen) this.session.send(body);
    else {
      // Sent once connected, if that happens before the request times out.
      this.whenConnected().then(
        (session) => this.requests.isPending(id) && session.send(body),
        (error: SockbusError) => this.requests.fail(id, error),
      );
    }
    return reply;
  }

  /** Sends the answer to a request; used through `message.respond()`. */
  respond(replyTo: string, data: unknown, headers?: Headers, error?: ReplyError): void {
    if (this.isClosed()) return;
    assertValidHeaders(headers);
    const body = encodeRespondBody(replyTo, data, headers, error);
    if (this.session?.isOpen) this.session.send(body);
    else this.sendLater(body);
  }

  /**
   * Subscribes to a pattern (`*` one token, `>` the rest); with no handler,
   * iterate it with `for await`. With `{ queue }` it joins a queue group.
   */
  subscribe<T = unknown>(pattern: string, handler?: MessageHandler<T>): Subscription<T>;
  subscribe<T = unknown>(pattern: string, options: SubscribeOptions, handler?: MessageHandler<T>): Subscription<T>;
  subscribe<T = unknown>(pattern: string, optionsOrHandler?: SubscribeOptions | MessageHandler<T>, handler?: MessageHandler<T>): Subscription<T> {
    this.assertOpen();
    assertValidPattern(pattern);
    const options = typeof optionsOrHandler === 'function' ? {} : optionsOrHandler ?? {};
    const onMessage = typeof optionsOrHandler === 'function' ? optionsOrHandler : handler;
    const problem = options.queue === undefined ? null : queueNameProblem(options.queue);
    if (problem) throw new ProtocolError(ErrorCode.InvalidQueue, problem);
    const subscription = new Subscription<T>(this, this.nextSubscriptionId++, pattern, onMessage, this.options.subscriptionQueueMessages, options.queue);
    this.subscriptions.set(subscription.id, subscription);
    this.session?.send(subscribeBody(subscription));
    return subscription;
  }

  unsubscribe(subscription: Subscription<any>): void {
    if (!this.forget(subscription)) return;
    this.session?.send(encodeBody({ kind: MessageKind.Unsubscribe, subscriptionId: subscription.id }));
  }

  /** Resolves once the broker has received everything published and subscribed before this call. */
  async flush(): Promise<void> {
    await (await this.openSession()).ping();
  }

  /** The broker's counters. */
  async brokerStats(): Promise<BrokerStats> {
    return (await this.openSession()).stats();
  }

  /** The clients connected to the broker now, this one included. */
  async clients(): Promise<ClientEntry[]> {
    return (await this.brokerStats()).clients;
  }

  /**
   * Sends what is buffered for a connected broker, then disconnects for
   * good. It only signals the loop (and ends the session cleanly, goodbye
   * and confirmation included); the loop makes the transition, and close()
   * resolves once it has.
   */
  async close(): Promise<void> {
    if (!this.closeRequested) {
      this.closeRequested = true;
      this.closing.abort();
      this.cancelSleep?.();
      void this.session?.end();
    }
    await this.loop;
  }

  reportDropped(count: number): void {
    this.countClientDrop(count, 'a subscription iterator was not read fast enough');
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let everConnected = false;
    while (!this.closeRequested) {
      const opened = await this.dial();
      if (opened === null) break;
      if (opened instanceof SockbusError) {
        const reason = opened;
        // Said every time: a user must see that an impostor holds the socket, not only a retry that never succeeds.
        if (everConnected && reason.code === ErrorCode.UntrustedBroker) this.emit('error', reason);
        const failedFile = await socketFileIdentity(this.options.path);
        const delay = this.shouldRetry(everConnected, reason) ? this.options.reconnectPolicy(attempt++) : null;
        if (delay === null) return this.giveUp(reason, everConnected);
        await this.waitBeforeRetry(delay, failedFile);
        continue;
      }
      const session = opened;
      this.attach(session, everConnected);
      everConnected = true;
      const openedAt = Date.now();
      const reason = await session.closed;
      this.session = null;
      this.reportUnconfirmed(session);
      // A reply can only come back on the connection that sent the request; when
      // close() ended it, that is why the request failed, not a lost connection.
      if (this.closeRequested) break;
      this.requests.failAll(
        (topic) => new SockbusError(ErrorCode.ConnectionClosed, `the connection to the broker was lost before the reply to the request on ${topic} arrived (${reason.message})`),
      );
      this.setState('reconnecting');
      this.emit('disconnect', reason);
      if (!this.options.reconnect) return this.giveUp(reason, true);
      // A session that ends soon after its handshake counts as a failed attempt: a broker
      // that welcomes and then sends a bad frame was redialled 56,624 times in 10 s.
      if (Date.now() - openedAt >= STABLE_SESSION_MS) attempt = 0;
      const delay = this.options.reconnectPolicy(attempt++);
      if (delay === null) return this.giveUp(reason, true);
      await this.waitBeforeRetry(delay, await socketFileIdentity(this.options.path));
    }
    this.closeDown();
  }

  /** A new session, the reason none could be opened, or null when close() came first (a handshake under way is abandoned). */
  private async dial(): Promise<Session | SockbusError | null> {
    const opened = await Session.open({
      ...this.options,
      onMessage: (message) => this.receive(message),
      onUndecodable: (error) => this.skipUndecodable(error),
      checkBroker: (socket) => this.checkBroker(socket),
      signal: this.closing.signal,
    }).catch((error: SockbusError) => error);
    if (!this.closeRequested) return opened;
    if (opened instanceof Session) opened.abort(new SockbusError(ErrorCode.ClientClosed, 'the client was closed'));
    return null;
  }

  /** The transition close() asked for, made by the loop: everything waiting learns why. */
  private closeDown(): void {
    this.setState('closed');
    // Closed before the first welcome: whoever awaits `started` learns why instead of waiting forever.
    this.failStart(new SockbusError(ErrorCode.ClientClosed, 'the client was closed before it connected'));
    this.requests.failAll((topic) => new SockbusError(ErrorCode.ClientClosed, `the client was closed before the reply to the request on ${topic} arrived`));
    this.finish(undefined);
  }

  /** Restores subscriptions, then sends the offline queue, in the order they were made. */
  private attach(session: Session, isReconnect: boolean): void {
    this.maxFrameBytes = session.welcome.maxFrameBytes;
    // A new connection: no subscription is held by the broker until it says so again.
    for (const subscription of this.routed) this.routes.remove(subscription.pattern, subscription);
    this.routed.clear();
    for (const subscription of this.subscriptions.values()) session.send(subscribeBody(subscription));
    for (const body of this.offline.drain()) session.send(body);
    this.session = session;
    this.setState('connected');
    for (const wake of this.connectedWaiters.splice(0)) wake();
    const info = connectionInfo(session.welcome);
    if (isReconnect) {
      this.counters.reconnects++;
      this.emit('reconnect', info);
    } else {
      this.markStarted();
      this.emit('connect', info);
    }
  }

  private receive(message: BrokerMessage): void {
    switch (message.kind) {
      case MessageKind.Message:
        return this.dispatch(message);
      case MessageKind.Reply:
        return this.requests.settle(message);
      case MessageKind.Dropped:
        this.counters.droppedByBroker += message.count;
        this.emit('dropped', { source: 'broker', count: message.count, reason: 'the broker\'s buffer for this client was full' });
        return;
      case MessageKind.Subscribed:
        return this.route(message.subscriptionId);
      case MessageKind.Error: {
        const error = new SockbusError(message.code as ErrorCode, message.message);
        // `sub` means the broker holds no such subscription (refused, or ended by a policy reload): it ends here too.
        const sub = message.about?.sub;
        const subscription = sub === undefined ? undefined : this.subscriptions.get(sub);
        if (subscription) this.forget(subscription, error);
        this.emit('error', error);
        return;
      }
      case MessageKind.GoingAway:
        this.session?.noteGoingAway(message.reason);
        return;
      default:
        return;
    }
  }

  /** The broker holds this subscription now: plain deliveries after this frame are its to receive (PROTOCOL.md §3.7). */
  private route(subscriptionId: number): void {
    const subscription = this.subscriptions.get(subscriptionId);
    if (!subscription || subscription.queue !== undefined || this.routed.has(subscription)) return;
    this.routed.add(subscription);
    this.routes.add(subscription.pattern, subscription);
  }

  /** Hands a delivery to its one subscription when the broker named it, else to every matching plain subscription. */
  private dispatch({ topic, data, headers, info, sender }: Delivery): void {
    this.counters.received++;
    const message = new Message(topic, data, headers, info, info?.reply === undefined ? undefined : this, sender);
    if (info?.sub !== undefined) {
      const subscription = this.subscriptions.get(info.sub);
      if (subscription) this.deliverTo(subscription, message);
      return;
    }
    for (const subscription of this.routes.matching(topic)) this.deliverTo(subscription, message);
  }

  /**
   * A handler failure nobody listens for is not lost: the first is written
   * to stderr (with a hint), the rest are counted in counters.handlerFailures.
   */
  private reportUnheard(failure: SockbusError): void {
    if (this.warnedUnheardFailure) return;
    this.warnedUnheardFailure = true;
    process.stderr.write(`sockbus: ${failure.code}: ${failure.message} (later failures are counted in counters.handlerFailures; listen for 'error' to see each)\n`);
  }

  private deliverTo(subscription: Subscription<any>, message: Message): void {
    try {
      subscription.deliver(message);
    } catch (error) {
      // A throwing handler must not break the connection or the other handlers.
      this.counters.handlerFailures++;
      const failure = new SockbusError(ErrorCode.HandlerFailed, `handler of ${subscription.pattern} threw: ${(error as Error).message}`, { cause: error });
      if (this.listenerCount('error') > 0) this.emit('error', failure);
      else this.reportUnheard(failure);
    }
  }

  private assertFits(bodyBytes: number): void {
    if (bodyBytes > this.maxFrameBytes) {
      throw new SockbusError(ErrorCode.FrameTooLarge, `message of ${bodyBytes} bytes exceeds the broker's limit of ${this.maxFrameBytes} bytes`);
    }
  }

  private sendNow(parts: Uint8Array[], bodyBytes: number): void {
    const session = this.session!;
    if (session.pendingBytes + bodyBytes > this.options.maxPendingBytes) {
      this.countClientDrop(1, `more than ${this.options.maxPendingBytes} bytes are waiting for the broker to read`);
      return;
    }
    session.sendPublish(parts);
  }

  /** Removes a subscription locally and ends it; false when it was already gone. */
  private forget(subscription: Subscription<any>, error?: SockbusError): boolean {
    if (!this.subscriptions.delete(subscription.id)) return false;
    if (this.routed.delete(subscription)) this.routes.remove(subscription.pattern, subscription);
    subscription.end(error);
    return true;
  }

  private sendLater(body: Uint8Array): void {
    const dropped = this.offline.push(body);
    if (dropped > 0) this.countClientDrop(dropped, 'the offline queue was full while disconnected');
  }

  private reportUnconfirmed(session: Session): void {
    const count = session.unconfirmedPublishes;
    if (count === 0) return;
    this.counters.unconfirmed += count;
    this.emit('dropped', {
      source: 'connection',
      count,
      reason: 'the connection ended before the broker confirmed these publishes; they may or may not have been delivered',
    });
  }

  /** A frame the client could not decode is most likely a delivery: lost to the application, so counted as dropped too. */
  private skipUndecodable(error: SockbusError): void {
    this.emit('error', error);
    this.countClientDrop(1, error.message);
  }

  private countClientDrop(count: number, reason: string): void {
    this.counters.droppedByClient += count;
    this.emit('dropped', { source: 'client', count, reason });
  }

  private shouldRetry(everConnected: boolean, reason: SockbusError): boolean {
    if (this.stateValue === 'closed') return false;
    // The first connect reports an impostor at once, even to a client that waits for its broker.
    if (!everConnected && (!this.options.waitForBroker || reason.code === ErrorCode.UntrustedBroker)) return false;
    // A broker that refuses our handshake will refuse it again.
    return reason.code !== ErrorCode.UnsupportedVersion;
  }

  private giveUp(reason: SockbusError, everConnected: boolean): void {
    if (this.stateValue !== 'closed') this.setState('closed');
    this.finish(reason);
    if (!everConnected) throw reason;
  }

  private finish(reason: SockbusError | undefined): void {
    for (const subscription of this.subscriptions.values()) subscription.end(reason);
    this.subscriptions.clear();
    for (const wake of this.connectedWaiters.splice(0)) wake();
    this.markClosed(reason);
  }

  /** Why not to talk to the broker that accepted `socket`, or null; the weaker check without the addon is said once. */
  private checkBroker(socket: net.Socket): SockbusError | null {
    let check: BrokerCheck;
    try {
      check = checkBroker(socket, this.options.path, this.options.brokerTrust);
    } catch (error) {
      return new SockbusError(ErrorCode.UntrustedBroker, `cannot tell who runs the broker on ${this.options.path}: ${(error as Error).message}`, { cause: error });
    }
    if (check.weaker && !this.warnedWeakCheck) {
      this.warnedWeakCheck = true;
      this.emit('warning', new SockbusError(ErrorCode.CredentialsUnavailable, check.weaker));
    }
    return check.refusal;
  }

  /** The current session if it is usable, else the next one. */
  private async openSession(): Promise<Session> {
    this.assertOpen();
    return this.session?.isOpen ? this.session : this.whenConnected();
  }

  private whenConnected(): Promise<Session> {
    return new Promise((resolve, reject) => {
      this.connectedWaiters.push(() => (this.session ? resolve(this.session) : reject(this.closedError())));
    });
  }

  /**
   * Waits out the backoff delay, but cuts it short when a new socket file
   * appears (see socket-watch.ts): then it waits only a jitter of its own,
   * so the clients of a restarted broker do not all dial in one moment.
   */
  private async waitBeforeRetry(delayMs: number, failedFile: string | null): Promise<void> {
    const deadline = Date.now() + delayMs;
    for (let remaining = delayMs; remaining > 0 && !this.isClosed(); remaining = deadline - Date.now()) {
      await this.sleep(Math.min(remaining, SOCKET_POLL_MS));
      if (!socketFileChanged(await socketFileIdentity(this.options.path), failedFile)) continue;
      await this.sleep(Math.min(deadline - Date.now(), socketAppearedDelay()));
      return;
    }
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.cancelSleep = null;
        resolve();
      };
      const timer = setTimeout(wake, delayMs);
      this.cancelSleep = wake;
    });
  }

  private setState(state: ClientState): void {
    this.stateValue = state;
    this.emit('status', state);
  }

  /** Closed, or asked to close: nothing new is accepted from then on. */
  private isClosed(): boolean {
    return this.closeRequested || this.stateValue === 'closed';
  }

  private assertOpen(): void {
    if (this.isClosed()) throw this.closedError();
  }

  private closedError(): SockbusError {
    return new SockbusError(ErrorCode.ClientClosed, 'the client is closed');
  }
}

function subscribeBody({ id, pattern, queue }: Subscription<any>): Uint8Array {
  // encodeBody leaves the options element out when there is no queue.
  return encodeBody({ kind: MessageKind.Subscribe, subscriptionId: id, pattern, queue });
}
