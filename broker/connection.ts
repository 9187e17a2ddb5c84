import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { decodeClientMessage, encodeBody, FRAME_HEADER_BYTES, ErrorCode, FrameDecoder, Keepalive, MessageKind, ProtocolError, type ClientMessage, type ErrorAbout, type Hello, type Refusal } from '../protocol/index.js';
import { type SenderStamp } from './delivery.js';
import type { PeerAccess } from './access-policy.js';
import type { PeerCredentials } from './credentials.js';
import type { Logger } from './log.js';
import { CONNECTION_COST_BYTES, type MemoryAccount } from './memory-budget.js';
import type { BrokerLimits } from './options.js';
import { Outbound } from './outbound.js';
import { BrokerCounters, ConnectionCounters } from './stats.js';

/** Who is on a connection, decided once when it is accepted. */
export interface PeerIdentity {
  credentials: PeerCredentials | null;
  access: PeerAccess;
  stamp: SenderStamp | null;
  account: MemoryAccount;
}

/** `handshake` until hello, `open` while serving, `closing` while flushing a last error or going-away. */
export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost {
  readonly limits: BrokerLimits;
  readonly counters: BrokerCounters;
  readonly log: Logger;
  handle(connection: Connection, message: ClientMessage): void;
  forget(connection: Connection): void;
}

/** Time one connection's frames may take before others get their turn. */
const TURN_BUDGET_MS = 2;
/** The clock is read every this many frames plus one (a mask), not on each: cheap frames need no check. */
const TURN_CHECK_EVERY = 7;

/** Why a connection ended when its client neither said goodbye nor broke a rule. */
const NO_GOODBYE = 'the connection ended without a goodbye (the client exited or was killed)';

/**
 * One client connection: parses its frames, hands each message to the
 * broker, and writes through its single outbound path. Routing and policy
 * live elsewhere.
 */
export class Connection {
  private lifecycle: ConnectionState = 'handshake';
  private hello: { name: string; noEcho: boolean } = { name: '', noEcho: false };
  /** Why the connection ended, for the presence event; set by whoever ends it first. */
  private endReason: string | null = null;
  /** Set once its arrival was announced on `$SYS.client.connected`, so its departure is too. */
  private arrivalAnnounced = false;
  /** What the kernel said about the peer when it connected; null when the broker cannot ask. */
  readonly credentials: PeerCredentials | null;
  /** The sender element of every message this connection publishes, encoded once. */
  readonly stamp: SenderStamp | null;
  /** The memory account of the peer's user, which this connection's buffers and state count against. */
  readonly account: MemoryAccount;
  /** What the peer may publish and subscribe to; replaced when the policy is reloaded. */
  private currentAccess: PeerAccess;
  readonly counters = new ConnectionCounters();
  readonly connectedAt = Date.now();
  /** Settles once the socket is fully closed. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  private readonly decoder: FrameDecoder;
  private readonly outbound: Outbound;
  /** Pings a silent client once, then gives it up: the rule the client applies to the broker too. */
  private readonly keepalive: Keepalive;
  /** When the frame now being received started arriving; 0 between frames. */
  private partialFrameSince = 0;
  /** Frames completed so far, to tell when a new frame started within one read. */
  private framesReceived = 0;
  /** When this connection's current turn at the event loop began. */
  private turnStartedAt = 0;
  private turnOver = false;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly host: ConnectionHost,
    identity: PeerIdentity,
  ) {
    this.credentials = identity.credentials;
    this.stamp = identity.stamp;
    this.account = identity.account;
    this.currentAccess = identity.access;
    this.account.charge(CONNECTION_COST_BYTES);
    this.account.connections++;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.decoder = new FrameDecoder(host.limits.maxFrameBytes, (body) => this.receiveFrame(body));
    this.keepalive = new Keepalive(host.limits.keepaliveMs, host.limits.keepaliveMs, this.connectedAt);
    this.outbound = new Outbound(socket, host.limits, this.account, {
      onDrop: (becauseOfShare) => {
        this.counters.dropped++;
        host.counters.dropped++;
        if (becauseOfShare) this.account.noteRefused('dropped', this.description);
      },
      onOverflow: (reason) => this.closeWithError(new ProtocolError(ErrorCode.SlowConsumer, reason)),
    });
    socket.on('data', (chunk: Buffer) => this.receiveBytes(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      host.log.debug(`connection ${id}: ${error.message}`);
      // A process that dies with bytes unread resets its end: that is the same crash as a bare close.
      const crashed = error.code === 'ECONNRESET' || error.code === 'EPIPE';
      this.endReason ??= crashed ? NO_GOODBYE : `connection error: ${error.message}`;
    });
    socket.on('close', () => this.onClosed());
  }

  /** The name its hello gave, shown in stats and logs. */
  get name(): string {
    return this.hello.name;
  }

  /** Whether its hello asked not to receive its own publishes. */
  get noEcho(): boolean {
    return this.hello.noEcho;
  }

  get state(): ConnectionState {
    return this.lifecycle;
  }

  get closeReason(): string | null {
    return this.endReason;
  }

  get announced(): boolean {
    return this.arrivalAnnounced;
  }

  markAnnounced(): void {
    this.arrivalAnnounced = true;
  }

  /** The client said goodbye: its end will be a clean one, not a crash. The connection stays open until it closes. */
  noteGoodbye(reason: string): void {
    this.endReason ??= `closed by the client: ${reason}`;
  }

  get access(): PeerAccess {
    return this.currentAccess;
  }

  /** Gives the connection the rules of a reloaded policy. */
  reauthorize(access: PeerAccess): void {
    this.currentAccess = access;
  }

  /** Takes the client's hello: its name and options. The connection is then open for traffic. */
  open(hello: Hello): void {
    this.hello = { name: hello.name ?? '', noEcho: hello.noEcho ?? false };
    this.account.charge(Buffer.byteLength(this.name));
    this.lifecycle = 'open';
  }

  /** The largest control body (an answer) that fits this connection's buffer now. */
  get controlRoomBytes(): number {
    return this.outbound.controlRoomBytes;
  }

  get pendingBytes(): number {
    return this.outbound.pendingBytes;
  }

  get description(): string {
    return this.name ? `connection ${this.id} (${this.name})` : `connection ${this.id}`;
  }

  /** Whether the access policy keeps a message on `topic` from this peer although a subscription matches. */
  withholds(topic: string): boolean {
    return this.access.filtersDeliveries && this.access.withholds(topic);
  }

  /** Whether a message of this size would be queued now rather than dropped. */
  hasRoomFor(bodyBytes: number): boolean {
    return this.state === 'open' && this.outbound.hasRoomFor(bodyBytes);
  }

  /** Delivers a message given as body parts, subject to the slow-consumer policy. */
  deliver(parts: readonly Uint8Array[], bodyBytes: number): void {
    if (this.state !== 'open') return;
    if (!this.outbound.sendMessage(parts, bodyBytes)) return;
    this.counters.messagesOut++;
    this.host.counters.messagesOut++;
    this.host.counters.bytesOut += FRAME_HEADER_BYTES + bodyBytes;
  }

  /** Sends a control message body (welcome, pong, stats, error). */
  send(body: Uint8Array): void {
    if (this.state === 'closed') return;
    this.outbound.sendControl(body);
  }

  /** Refuses one frame, saying which (`about`); the connection stays usable. */
  refuseFrame(refusal: Refusal, about: ErrorAbout): void {
    this.host.counters.errors++;
    this.host.log.debug(`${this.description}: ${refusal.code}: ${refusal.message}`);
    this.send(encodeBody({ kind: MessageKind.Error, code: refusal.code, message: refusal.message, about }));
  }

  /**
   * Reports a problem after which the connection cannot go on, then closes it.
   * The state moves to closing before the error is queued: the error itself
   * may overflow a peer that never reads, and that overflow must find the
   * connection already closing rather than fail it again (a recursion that
   * once overflowed the stack and ended the broker).
   */
  closeWithError(error: ProtocolError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.host.log.info(`${this.description} closed: ${error.code}: ${error.message}`);
    this.endWithError(error);
  }

  /** Tells a connection the broker does not serve why, and closes it; the gatekeeper logs refusals, once per episode. */
  refuseAtTheDoor(error: ProtocolError): void {
    this.endWithError(error);
  }

  private endWithError(error: ProtocolError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.endReason ??= `${error.code}: ${error.message}`;
    this.host.counters.errors++;
    this.lifecycle = 'closing';
    this.outbound.sendFinal(encodeBody({ kind: MessageKind.Error, code: error.code, message: error.message, about: error.about }));
    this.endSocket();
  }

  /** Flushes what is queued, then closes; a peer that does not read is cut after a timeout. */
  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.lifecycle = 'closing';
    this.endSocket();
  }

  private endSocket(): void {
    this.outbound.flush();
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.host.limits.closeTimeoutMs);
    this.closeTimer.unref();
  }

  /** Cuts the connection at once, without a last word: for when something of ours went wrong with it. */
  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Closes the connection when it has overstayed a deadline: no hello in
   * time, a frame that never completes (slowloris), or silence past a
   * keepalive ping (a hung or stopped peer must not be written to forever).
   */
  checkDeadlines(now: number): void {
    if (this.state !== 'handshake' && this.state !== 'open') return;
    const limits = this.host.limits;
    if (this.state === 'handshake' && now - this.connectedAt > limits.handshakeTimeoutMs) {
      return this.closeWithError(new ProtocolError(ErrorCode.Timeout, `no hello within ${limits.handshakeTimeoutMs} ms of connecting`));
    }
    if (this.partialFrameSince && now - this.partialFrameSince > limits.frameTimeoutMs) {
      return this.closeWithError(new ProtocolError(ErrorCode.Timeout, `a frame was still incomplete ${limits.frameTimeoutMs} ms after it started`));
    }
    const verdict = this.keepalive.check(now);
    if (verdict === 'gone') {
      return this.closeWithError(new ProtocolError(ErrorCode.Timeout, `no answer to a keepalive ping within ${limits.keepaliveMs} ms`));
    }
    if (verdict === 'ping' && this.state === 'open') this.send(encodeBody({ kind: MessageKind.Ping, token: 0 }));
  }

  /** Lets go of the write buffer while nothing waits in it: a quiet connection then costs a few KiB, not 64. */
  releaseIdleBuffers(): void {
    this.outbound.releaseIdleBuffer();
  }

  private receiveBytes(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.turnStartedAt = performance.now();
    this.host.counters.bytesIn += chunk.length;
    const now = Date.now();
    this.keepalive.heard(now);
    const framesBefore = this.framesReceived;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.closeOnThrown(error);
      return;
    }
    this.restartFrameClock(framesBefore, now);
  }

  /**
   * The slowloris clock runs from the start of the frame still incomplete:
   * a client writing through a small buffer completes frames all the time
   * while its buffer is rarely empty, and must not be cut for that; and
   * whole frames kept for the connection's next turn are not a frame in progress.
   */
  private restartFrameClock(framesBefore: number, now: number): void {
    if (this.decoder.bufferedBytes === 0) this.partialFrameSince = 0;
    else if (this.partialFrameSince === 0 || this.framesReceived !== framesBefore) this.partialFrameSince = now;
  }

  private receiveFrame(body: Buffer): void {
    this.framesReceived++;
    if (this.state === 'closing' || this.state === 'closed') return;
    try {
      this.host.handle(this, decodeClientMessage(body));
    } catch (error) {
      this.closeOnThrown(error);
    }
    if (this.turnOver || (this.framesReceived & TURN_CHECK_EVERY) === 0) this.checkTurn();
  }

  /** Ends this connection's turn after the frame in hand: it did something costly (a stats answer). */
  endTurn(): void {
    this.turnOver = true;
  }

  /**
   * One connection's frames run one after another, and nothing else runs
   * meanwhile: past its time budget, the connection stops reading until
   * every other ready connection had its turn. A user flooding costly
   * frames (new topics against many patterns, stats) then delays others by
   * one budget, not by a whole read of them.
   */
  private checkTurn(): void {
    if (!this.turnOver && performance.now() - this.turnStartedAt < TURN_BUDGET_MS) return;
    this.turnOver = false;
    this.decoder.hold();
    this.socket.pause();
    setImmediate(() => this.nextTurn());
  }

  private nextTurn(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.turnStartedAt = performance.now();
    this.socket.resume();
    const framesBefore = this.framesReceived;
    try {
      this.decoder.resume();
    } catch (error) {
      this.closeOnThrown(error);
      return;
    }
    this.restartFrameClock(framesBefore, Date.now());
  }

  /** What a frame threw closes the connection: a ProtocolError as the client's fault, anything else as ours. */
  private closeOnThrown(error: unknown): void {
    if (!(error instanceof ProtocolError)) {
      // A bug of ours, not the client's: say so to the client and keep the broker up.
      this.host.log.error(`${this.description}: internal error: ${(error as Error).stack ?? String(error)}`);
      this.closeWithError(new ProtocolError(ErrorCode.Internal, `internal broker error: ${(error as Error).message}`));
      return;
    }
    // Frames that are only refused never throw (their refusals are returned): whatever throws closes the connection.
    this.closeWithError(error);
  }

  private onClosed(): void {
    // The timer would otherwise keep this connection and its buffers alive after the peer is gone.
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.lifecycle = 'closed';
    this.endReason ??= NO_GOODBYE;
    this.account.release(CONNECTION_COST_BYTES + Buffer.byteLength(this.name));
    this.account.connections--;
    try {
      this.host.forget(this);
    } catch (error) {
      this.host.log.error(`${this.description}: internal error while forgetting it: ${(error as Error).stack ?? String(error)}`);
    }
    this.markClosed();
  }
}
