import { ErrorCode, SockbusError } from '../protocol/index.js';
import type { ClientState } from './events.js';
import type { ReconnectPolicy } from './backoff.js';
import { RetryWait } from './retry-wait.js';
import { Session } from './session.js';
import { socketFileIdentity } from './socket-watch.js';

/** A session that lasted this long was a good one: the backoff starts afresh after it. */
const STABLE_SESSION_MS = 1000;

export interface LifecycleOptions {
  path: string;
  reconnect: boolean;
  reconnectPolicy: ReconnectPolicy;
  waitForBroker: boolean;
}

/** What the loop tells its client, at each transition. */
export interface LifecycleHooks {
  /** Opens one session, handshake included; the signal abandons it. */
  open(signal: AbortSignal): Promise<Session>;
  /** A new session is up: restore on it what the client holds. */
  attached(session: Session, isReconnect: boolean): void;
  /** A session ended, for whatever reason: account for what it had not confirmed. */
  ended(session: Session): void;
  /** A session was lost (not closed on purpose); the loop will try again or give up. */
  lost(reason: SockbusError): void;
  /** An attempt failed in a way the user must see even while the loop retries. */
  attemptFailed(reason: SockbusError): void;
  /** Closed for good: `reason` when the loop gave up, undefined after close(). */
  finished(reason: SockbusError | undefined): void;
  stateChanged(state: ClientState): void;
}

/**
 * The one loop that owns every transition of a client: connecting,
 * connected, reconnecting with backoff, closed. close() only signals it
 * (and abandons a handshake under way); the loop makes the transition, and
 * close() resolves once it has.
 */
export class Lifecycle {
  /** Resolves after the first handshake; rejects if it cannot happen, or close() comes first. */
  readonly started: Promise<void>;
  private markStarted!: () => void;
  private failStart!: (error: unknown) => void;
  private stateValue: ClientState = 'connecting';
  private current: Session | null = null;
  private closeRequested = false;
  private readonly closing = new AbortController();
  private readonly retryWait: RetryWait;
  private connectedWaiters: Array<() => void> = [];
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: LifecycleOptions,
    private readonly hooks: LifecycleHooks,
  ) {
    this.retryWait = new RetryWait(options.path);
    this.started = new Promise((resolve, reject) => {
      this.markStarted = resolve;
      this.failStart = reject;
    });
    // Nobody may be awaiting `started` when a later failure happens; that is not unhandled.
    this.started.catch(() => undefined);
  }

  start(): void {
    this.loop = this.run().catch(this.failStart);
  }

  get state(): ClientState {
    // close() is a signal the loop acts on; from the caller's side the client is closed at once.
    return this.closeRequested ? 'closed' : this.stateValue;
  }

  /** Closed, or asked to close: nothing new is accepted from then on. */
  get isClosed(): boolean {
    return this.closeRequested || this.stateValue === 'closed';
  }

  /** The session in use, if one is up. */
  get session(): Session | null {
    return this.current;
  }

  /** The current session if it is usable, else the next one; rejects once the client is closed. */
  usableSession(): Promise<Session> {
    if (this.isClosed) return Promise.reject(closedError());
    if (this.current?.isOpen) return Promise.resolve(this.current);
    return new Promise((resolve, reject) => {
      this.connectedWaiters.push(() => (this.current ? resolve(this.current) : reject(closedError())));
    });
  }

  async close(): Promise<void> {
    if (!this.closeRequested) {
      this.closeRequested = true;
      this.closing.abort();
      this.retryWait.cancel();
      void this.current?.end();
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let everConnected = false;
    while (!this.closeRequested) {
      const opened = await this.dial();
      if (opened === null) break;
      if (opened instanceof SockbusError) {
        // Said every time: a user must see that an impostor holds the socket, not only a retry that never succeeds.
        if (everConnected && opened.code === ErrorCode.UntrustedBroker) this.hooks.attemptFailed(opened);
        const failedFile = await socketFileIdentity(this.options.path);
        const delay = this.shouldRetry(everConnected, opened) ? this.options.reconnectPolicy(attempt++) : null;
        if (delay === null) return this.giveUp(opened, everConnected);
        await this.retryWait.wait(delay, failedFile);
        continue;
      }
      this.attach(opened, everConnected);
      everConnected = true;
      const openedAt = Date.now();
      const reason = await opened.closed;
      this.current = null;
      this.hooks.ended(opened);
      if (this.closeRequested) break;
      this.setState('reconnecting');
      this.hooks.lost(reason);
      if (!this.options.reconnect) return this.giveUp(reason, true);
      // A session that ends soon after its handshake counts as a failed attempt: a broker
      // that welcomes and then sends a bad frame was redialled 56,624 times in 10 s.
      if (Date.now() - openedAt >= STABLE_SESSION_MS) attempt = 0;
      const delay = this.options.reconnectPolicy(attempt++);
      if (delay === null) return this.giveUp(reason, true);
      await this.retryWait.wait(delay, await socketFileIdentity(this.options.path));
    }
    // The transition close() asked for. Closed before the first welcome: whoever awaits `started` learns why.
    this.setState('closed');
    this.failStart(new SockbusError(ErrorCode.ClientClosed, 'the client was closed before it connected'));
    this.finish(undefined);
  }

  /** A new session, the reason none could be opened, or null when close() came first (a handshake under way is abandoned). */
  private async dial(): Promise<Session | SockbusError | null> {
    const opened = await this.hooks.open(this.closing.signal).catch((error: SockbusError) => error);
    if (!this.closeRequested) return opened;
    if (opened instanceof Session) opened.abort(new SockbusError(ErrorCode.ClientClosed, 'the client was closed'));
    return null;
  }

  private attach(session: Session, isReconnect: boolean): void {
    this.hooks.attached(session, isReconnect);
    this.current = session;
    this.setState('connected');
    for (const wake of this.connectedWaiters.splice(0)) wake();
    if (!isReconnect) this.markStarted();
  }

  private shouldRetry(everConnected: boolean, reason: SockbusError): boolean {
    // The first connect reports an impostor at once, even to a client that waits for its broker.
    if (!everConnected && (!this.options.waitForBroker || reason.code === ErrorCode.UntrustedBroker)) return false;
    // A broker that refuses our handshake will refuse it again.
    return reason.code !== ErrorCode.UnsupportedVersion;
  }

  private giveUp(reason: SockbusError, everConnected: boolean): void {
    this.setState('closed');
    this.finish(reason);
    if (!everConnected) throw reason;
  }

  private finish(reason: SockbusError | undefined): void {
    this.hooks.finished(reason);
    for (const wake of this.connectedWaiters.splice(0)) wake();
  }

  private setState(state: ClientState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.hooks.stateChanged(state);
  }
}

function closedError(): SockbusError {
  return new SockbusError(ErrorCode.ClientClosed, 'the client is closed');
}
