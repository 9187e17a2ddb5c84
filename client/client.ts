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
import type { ClientCounters, PublishOptions, RequestOptions, SubscribeOptions } from './api-types.js';
import { Lifecycle } from './lifecycle.js';
import { SubscriptionTable } from './subscription-table.js';
import { Subscription, type MessageHandler, type SubscriptionOwner } from './subscription.js';

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
  private readonly lifecycle: Lifecycle;
  private readonly subscriptions = new SubscriptionTable((failure) => this.reportHandlerFailure(failure));
  private readonly requests = new PendingRequests(() => this.counters.lateReplies++);
  private readonly offline: OfflineQueue;
  private nextSubscriptionId = 1;
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private markClosed!: (error: SockbusError | undefined) => void;
  private readonly options: ResolvedClientOptions;
  private warnedWeakCheck = false;
  private warnedUnheardFailure = false;

  /** Starts connecting at once; listen for `connect` or await `started`. */
  constructor(options: ClientOptions = {}) {
    super();
    this.options = resolveClientOptions(options);
    this.offline = new OfflineQueue(this.options.offlineQueueMessages, this.options.offlineQueueBytes);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.lifecycle = new Lifecycle(this.options, {
      open: (signal) => this.openSession(signal),
      attached: (session, isReconnect) => this.attach(session, isReconnect),
      ended: (session) => this.reportUnconfirmed(session),
      lost: (reason) => this.lost(reason),
      attemptFailed: (reason) => this.emit('error', reason),
      finished: (reason) => this.finish(reason),
      stateChanged: (state) => this.emit('status', state),
    });
    this.started = this.lifecycle.started;
    this.lifecycle.start();
  }

  get state(): ClientState {
    return this.lifecycle.state;
  }

  private get session(): Session | null {
    return this.lifecycle.session;
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
      this.lifecycle.usableSession().then(
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
    this.subscriptions.add(subscription);
    this.session?.send(subscribeBody(subscription));
    return subscription;
  }

  unsubscribe(subscription: Subscription<any>): void {
    if (!this.subscriptions.forget(subscription)) return;
    this.session?.send(encodeBody({ kind: MessageKind.Unsubscribe, subscriptionId: subscription.id }));
  }

  /** Resolves once the broker has received everything published and subscribed before this call. */
  async flush(): Promise<void> {
    await (await this.usableSession()).ping();
  }

  /** The broker's counters. */
  async brokerStats(): Promise<BrokerStats> {
    return (await this.usableSession()).stats();
  }

  /** The clients connected to the broker now, this one included. */
  async clients(): Promise<ClientEntry[]> {
    return (await this.brokerStats()).clients;
  }

  /**
   * Sends what is buffered for a connected broker, then disconnects for
   * good: the loop makes the transition (see lifecycle.ts), and close()
   * resolves once it has.
   */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  reportDropped(count: number): void {
    this.countClientDrop(count, 'a subscription iterator was not read fast enough');
  }

  /** One session with the broker, handshake included; abandoned when `signal` aborts. */
  private openSession(signal: AbortSignal): Promise<Session> {
    return Session.open({
      ...this.options,
      onMessage: (message) => this.receive(message),
      onUndecodable: (error) => this.skipUndecodable(error),
      checkBroker: (socket) => this.checkBroker(socket),
      signal,
    });
  }

  /** A lost connection: what waited on it fails now rather than at its timeout. */
  private lost(reason: SockbusError): void {
    // A reply can only come back on the connection that sent the request.
    this.requests.failAll(
      (topic) => new SockbusError(ErrorCode.ConnectionClosed, `the connection to the broker was lost before the reply to the request on ${topic} arrived (${reason.message})`),
    );
    this.emit('disconnect', reason);
  }

  /** Restores subscriptions, then sends the offline queue, in the order they were made. */
  private attach(session: Session, isReconnect: boolean): void {
    this.maxFrameBytes = session.welcome.maxFrameBytes;
    this.subscriptions.newConnection();
    for (const subscription of this.subscriptions.values()) session.send(subscribeBody(subscription));
    for (const body of this.offline.drain()) session.send(body);
    const info = connectionInfo(session.welcome);
    if (isReconnect) {
      this.counters.reconnects++;
      this.emit('reconnect', info);
    } else {
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
        return this.subscriptions.acknowledged(message.subscriptionId);
      case MessageKind.Error: {
        const error = new SockbusError(message.code as ErrorCode, message.message);
        // `sub` means the broker holds no such subscription (refused, or ended by a policy reload): it ends here too.
        const sub = message.about?.sub;
        const subscription = sub === undefined ? undefined : this.subscriptions.get(sub);
        if (subscription) this.subscriptions.forget(subscription, error);
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

  /** Hands a delivery to its subscriptions, as a Message that can answer when it is a request. */
  private dispatch(delivery: Delivery): void {
    this.counters.received++;
    const { topic, data, headers, info, sender } = delivery;
    this.subscriptions.dispatch(delivery, new Message(topic, data, headers, info, info?.reply === undefined ? undefined : this, sender));
  }

  /**
   * A throwing handler must not break the connection or the other handlers.
   * A failure nobody listens for is not lost: the first is written to
   * stderr (with a hint), every one is counted in counters.handlerFailures.
   */
  private reportHandlerFailure(failure: SockbusError): void {
    this.counters.handlerFailures++;
    if (this.listenerCount('error') > 0) {
      this.emit('error', failure);
      return;
    }
    if (this.warnedUnheardFailure) return;
    this.warnedUnheardFailure = true;
    process.stderr.write(`sockbus: ${failure.code}: ${failure.message} (later failures are counted in counters.handlerFailures; listen for 'error' to see each)\n`);
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

  /** Closed for good: after close(), what waited learns that; after giving up, why. */
  private finish(reason: SockbusError | undefined): void {
    if (!reason) this.requests.failAll((topic) => new SockbusError(ErrorCode.ClientClosed, `the client was closed before the reply to the request on ${topic} arrived`));
    this.subscriptions.endAll(reason);
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
  private usableSession(): Promise<Session> {
    this.assertOpen();
    return this.lifecycle.usableSession();
  }

  private isClosed(): boolean {
    return this.lifecycle.isClosed;
  }

  private assertOpen(): void {
    if (this.isClosed()) throw new SockbusError(ErrorCode.ClientClosed, 'the client is closed');
  }
}

function subscribeBody({ id, pattern, queue }: Subscription<any>): Uint8Array {
  // encodeBody leaves the options element out when there is no queue.
  return encodeBody({ kind: MessageKind.Subscribe, subscriptionId: id, pattern, queue });
}
