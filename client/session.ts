import net from 'node:net';
import {
  decodeBrokerMessage,
  encodeBody,
  encodeMessage,
  ErrorCode,
  FrameBatcher,
  FrameDecoder,
  MessageKind,
  PROTOCOL_VERSION,
  SockbusError,
  kindName,
  type BrokerMessage,
  type BrokerStats,
  type EncodableMessage,
  type Welcome,
} from '../protocol/index.js';
import { Heartbeat } from './heartbeat.js';
import { socketSendBuffer } from './native-addon.js';

/** How long publishes wait for the ping that confirms them: bounds the pings a busy publisher sends. */
const CONFIRM_DELAY_MS = 20;

/**
 * The kernel send buffer a client asks for (Linux caps the request at
 * net.core.wmem_max, then doubles it): a publisher's bursts then wait in the kernel instead
 * of the publisher waiting on the broker in 200 KiB steps. The memory is
 * the client's own process's, used only while the broker is behind.
 */
const PUBLISH_SEND_BUFFER_BYTES = 1024 * 1024;

/** The broker's frames are trusted to be sane; this only guards against garbage. */
const MAX_FRAME_BEFORE_WELCOME = 64 * 1024;

export interface SessionOptions {
  path: string;
  name: string;
  noEcho: boolean;
  handshakeTimeoutMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Every message after the welcome, in order. */
  onMessage(message: BrokerMessage): void;
  /** A complete frame that could not be decoded; it is skipped and the session goes on. */
  onUndecodable(error: SockbusError): void;
  /** Why not to talk to the process that accepted the connection, or null; asked before anything is sent. */
  checkBroker(socket: net.Socket): SockbusError | null;
  /** Gives up the handshake at once when aborted: the client was closed. */
  signal: AbortSignal;
}

/** Something asked of the broker (a ping, a stats request) and waiting for its answer. */
interface Question {
  resolve(message: BrokerMessage): void;
  reject(error: SockbusError): void;
  askedAt: number;
  what: string;
}

/**
 * One connection to the broker, from a completed handshake until the socket
 * closes. A client makes a new session after each reconnect.
 */
export class Session {
  /** Settles, never rejects, with why the session ended. */
  readonly closed: Promise<SockbusError>;
  private readonly writer: FrameBatcher;
  private readonly unanswered = new Map<number, Question>();
  private nextToken = 1;
  private closeReason: SockbusError | null = null;
  private markClosed!: (reason: SockbusError) => void;
  private readonly heartbeat: Heartbeat;
  /** Publishes handed to this session, and how many of them the broker has confirmed with a pong. */
  private publishesSent = 0;
  private publishesConfirmed = 0;
  private confirming = false;

  private constructor(
    private readonly socket: net.Socket,
    readonly welcome: Welcome,
    private readonly path: string,
    options: SessionOptions,
  ) {
    this.writer = socketBatcher(socket);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.heartbeat = new Heartbeat({
      intervalMs: options.pingIntervalMs,
      timeoutMs: options.pingTimeoutMs,
      ping: () => this.send(encodeBody({ kind: MessageKind.Ping, token: 0 })),
      onTimeout: (silentMs) =>
        this.abort(new SockbusError(ErrorCode.BrokerUnresponsive, `the broker on ${this.path} did not answer for ${silentMs} ms; it may be hung`)),
      // Questions are kept in the order asked, so the first is the oldest.
      oldestUnanswered: () => this.unanswered.values().next().value ?? null,
      onUnanswered: (what, waitedMs) =>
        this.abort(new SockbusError(ErrorCode.BrokerUnresponsive, `the broker on ${this.path} left ${what} unanswered for ${waitedMs} ms; it may be hung`)),
    });
    this.heartbeat.start();
    socket.on('data', () => this.heartbeat.heard());
    socket.on('close', () => this.onClose());
  }

  /** Connects and completes the handshake, or rejects with why not. */
  static open(options: SessionOptions): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(options.path, () => socketSendBuffer(socket, PUBLISH_SEND_BUFFER_BYTES));
      let session: Session | null = null;
      const fail = (error: SockbusError) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new SockbusError(ErrorCode.BrokerUnresponsive, `the broker on ${options.path} did not answer hello within ${options.handshakeTimeoutMs} ms`)),
        options.handshakeTimeoutMs,
      );
      const giveUp = () => {
        if (!session) fail(new SockbusError(ErrorCode.ClientClosed, 'the client was closed'));
      };
      if (options.signal.aborted) giveUp();
      else options.signal.addEventListener('abort', giveUp, { once: true });
      // Until the welcome says how long the broker's frames may be, a welcome's worth is plenty.
      const decoder = new FrameDecoder(MAX_FRAME_BEFORE_WELCOME, (body) => {
        let message: BrokerMessage | null;
        try {
          message = decodeBrokerMessage(body);
        } catch (error) {
          // The frame's length was sound, so the stream is still in step: skip just this one.
          const reason = new SockbusError(ErrorCode.MalformedFrame, `skipped a frame from the broker that could not be decoded: ${(error as Error).message}`, { cause: error });
          if (session) return options.onUndecodable(reason);
          return fail(reason);
        }
        // A kind this client does not know is ignored (PROTOCOL.md §3.0).
        if (message === null) return;
        if (session) return session.receive(message, options.onMessage);
        if (message.kind === MessageKind.Welcome) {
          clearTimeout(timer);
          decoder.limitTo(message.maxBrokerFrameBytes);
          session = new Session(socket, message, options.path, options);
          resolve(session);
        } else if (message.kind === MessageKind.Error) {
          fail(new SockbusError(message.code as ErrorCode, message.message));
        } else {
          fail(new SockbusError(ErrorCode.InvalidMessage, `expected welcome from the broker, got ${message.kind}`));
        }
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk);
        } catch (error) {
          const reason = new SockbusError(ErrorCode.MalformedFrame, `bad frame from the broker: ${(error as Error).message}`, { cause: error });
          if (session) session.abort(reason);
          else fail(reason);
        }
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (session) session.closeReason ??= lostConnection(options.path, error);
        else fail(connectError(options.path, error));
      });
      socket.on('close', () => {
        if (!session) fail(new SockbusError(ErrorCode.ConnectionClosed, `the broker on ${options.path} closed the connection during the handshake`));
      });
      socket.once('connect', () => {
        // Before hello: an impostor must not learn even the client's name.
        const refusal = options.checkBroker(socket);
        if (refusal) return fail(refusal);
        const hello: EncodableMessage = { kind: MessageKind.Hello, version: PROTOCOL_VERSION, name: options.name, noEcho: options.noEcho };
        socket.write(encodeMessage(hello));
      });
    });
  }

  /** Bytes written but not yet taken by the kernel. */
  get pendingBytes(): number {
    return this.writer.pendingBytes;
  }

  /** False once the session is ending; new publishes then belong to the next session. */
  get isOpen(): boolean {
    return this.closeReason === null;
  }

  /**
   * Publishes sent on this session that the broker never confirmed: when the
   * session died, these may or may not have been delivered.
   */
  get unconfirmedPublishes(): number {
    return this.publishesSent - this.publishesConfirmed;
  }

  /** Queues a frame body; writes made in one tick go out together. */
  send(body: Uint8Array): void {
    if (!this.closeReason) this.writer.append(body);
  }

  /**
   * Sends a publish and makes sure a ping follows it soon, so the broker's
   * pong confirms it: if the broker dies, the client knows how many
   * publishes are in doubt instead of losing them silently. The ping waits
   * CONFIRM_DELAY_MS and one is in flight at a time, so confirmation costs at
   * most a few small frames a second, not one per message: at a steady
   * 5,000 msgs/s a ping per publish had doubled the broker's work and its
   * wakeups, and shown in the latency tail.
   */
  sendPublish(parts: Uint8Array[]): void {
    if (!this.confirming) {
      this.confirming = true;
      this.scheduleConfirm();
    }
    this.publishesSent++;
    if (!this.closeReason) this.writer.appendParts(parts);
  }

  /** Resolves once the broker has processed everything sent before it. */
  async ping(): Promise<void> {
    await this.request('a ping', (token) => ({ kind: MessageKind.Ping, token }));
  }

  async stats(): Promise<BrokerStats> {
    const reply = await this.request('a stats request', (token) => ({ kind: MessageKind.StatsRequest, token }));
    if (reply.kind === MessageKind.Stats) return reply.stats;
    // A pong for a stats request's token: no stats to give, and an empty map would pass for them.
    throw new SockbusError(ErrorCode.InvalidMessage, `the broker on ${this.path} answered a stats request with a ${kindName(reply.kind)}`);
  }

  /**
   * Sends what is queued, then closes the socket. Publishes not yet confirmed
   * are confirmed first (a ping): a clean close must not report in doubt
   * what the broker has. If the broker does not answer, the heartbeat ends
   * the session and they are reported, as they should be.
   */
  async end(): Promise<void> {
    if (this.unconfirmedPublishes > 0 && !this.closeReason) await this.confirmSent();
    // Tells the broker this end is deliberate, for presence events; then the socket follows.
    this.send(encodeBody({ kind: MessageKind.GoingAway, reason: 'the client was closed' }));
    this.writer.flush();
    this.closeReason ??= new SockbusError(ErrorCode.ClientClosed, 'the client was closed');
    this.socket.end();
    await this.closed;
  }

  abort(reason: SockbusError): void {
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  /** Records why the broker is about to close the connection, for the disconnect event. */
  noteGoingAway(reason: string): void {
    this.closeReason ??= new SockbusError(ErrorCode.ConnectionClosed, `the broker is going away: ${reason}`);
  }

  private scheduleConfirm(): void {
    // Unref'd: a pending confirmation must not keep a finished program alive.
    setTimeout(() => this.confirm(), CONFIRM_DELAY_MS).unref();
  }

  private confirm(): void {
    void this.confirmSent().then((confirmed) => {
      if (!confirmed) return; // the session ended; what stays unconfirmed is reported by the client
      // Publishes made while this ping was out need a ping of their own.
      if (this.publishesSent > this.publishesConfirmed) this.scheduleConfirm();
      else this.confirming = false;
    });
  }

  /** Pings, and counts every publish sent before the ping as confirmed once its pong is back; false when the session ended first. */
  private confirmSent(): Promise<boolean> {
    const sent = this.publishesSent;
    return this.ping().then(
      () => {
        this.publishesConfirmed = Math.max(this.publishesConfirmed, sent);
        return true;
      },
      () => false,
    );
  }

  /** Asks the broker something it must answer; the heartbeat ends a session that leaves it unanswered too long. */
  private request(what: string, build: (token: number) => EncodableMessage): Promise<BrokerMessage> {
    if (this.closeReason) return Promise.reject(this.closeReason);
    const token = this.nextToken++;
    return new Promise((resolve, reject) => {
      this.unanswered.set(token, { resolve, reject, askedAt: Date.now(), what });
      this.send(encodeBody(build(token)));
    });
  }

  private receive(message: BrokerMessage, onMessage: (message: BrokerMessage) => void): void {
    if (message.kind === MessageKind.Pong || message.kind === MessageKind.Stats) {
      const question = this.unanswered.get(message.token);
      this.unanswered.delete(message.token);
      question?.resolve(message);
      return;
    }
    if (message.kind === MessageKind.Ping) {
      this.send(encodeBody({ kind: MessageKind.Pong, token: message.token }));
      return;
    }
    onMessage(message);
  }

  private onClose(): void {
    this.heartbeat.stop();
    const reason = (this.closeReason ??= new SockbusError(ErrorCode.ConnectionClosed, `the broker on ${this.path} closed the connection`));
    for (const question of this.unanswered.values()) question.reject(reason);
    this.unanswered.clear();
    this.markClosed(reason);
  }
}

/** Writes of one tick go out together, at the end of the current microtask. */
function socketBatcher(socket: net.Socket): FrameBatcher {
  return new FrameBatcher({ write: (bytes) => socket.write(bytes), heldBytes: () => socket.writableLength, schedule: queueMicrotask });
}

function connectError(path: string, error: NodeJS.ErrnoException): SockbusError {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return new SockbusError(ErrorCode.BrokerUnavailable, `no broker is listening on ${path} (is sockbusd running?)`, { cause: error });
  }
  if (error.code === 'EACCES') {
    return new SockbusError(ErrorCode.BrokerUnavailable, `permission denied connecting to ${path}`, { cause: error });
  }
  return new SockbusError(ErrorCode.BrokerUnavailable, `cannot connect to ${path}: ${error.message}`, { cause: error });
}

function lostConnection(path: string, error: Error): SockbusError {
  return new SockbusError(ErrorCode.ConnectionClosed, `lost the connection to ${path}: ${error.message}`, { cause: error });
}
