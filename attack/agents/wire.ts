import net from 'node:net';
import { pack } from 'msgpackr';
import { decodeBrokerMessage, encodeFrame, FrameDecoder, type BrokerMessage } from '../../protocol/index.js';

/** A frame of one msgpack value, as a client that ignores the library would build it. */
export function frameOf(value: unknown): Buffer {
  return Buffer.from(encodeFrame(pack(value)));
}

/** A frame around body bytes built by hand (values msgpackr would not produce). */
export function frameOfBody(body: Uint8Array): Buffer {
  return Buffer.from(encodeFrame(body));
}

export interface OpenOptions {
  /** false: connect only, no hello. */
  hello?: boolean;
  name?: string;
  /** false leaves the socket unread (paused) once welcomed. */
  read?: boolean;
  /** false: deliveries (kind 6) are counted in `deliveries`, not kept, so a busy subscriber does not grow. */
  keepDeliveries?: boolean;
}

/** A hand-driven connection: bytes in, decoded broker messages out. */
export class RawConnection {
  readonly received: BrokerMessage[] = [];
  /** Deliveries (kind 6) received, kept or not. */
  deliveries = 0;
  closed = false;
  closeError: string | null = null;
  private readonly watchers = new Set<() => void>();
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
    let message: BrokerMessage | null;
    try {
      message = decodeBrokerMessage(body);
    } catch {
      return; // An undecodable frame from the broker is not what these attacks measure.
    }
    if (message === null) return;
    if (message.kind === 6) this.deliveries++;
    if (message.kind !== 6 || this.keepDeliveries) this.received.push(message);
    this.notify();
  });

  private constructor(
    readonly socket: net.Socket,
    private readonly keepDeliveries: boolean,
  ) {
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', (error) => (this.closeError ??= error.message));
  }

  /** Connects and, unless `hello` is false, sends hello and waits for the broker's answer (a welcome, or an error and close). */
  static async open(path: string, options: OpenOptions = {}): Promise<RawConnection> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const connection = new RawConnection(socket, options.keepDeliveries ?? true);
    socket.on('data', (chunk: Buffer) => connection.decoder.push(chunk));
    if (options.hello ?? true) {
      connection.send([1, { version: 2, name: options.name ?? 'attack' }]);
      await connection.waitFor((message) => message.kind === 2, 5000);
    }
    if (options.read === false) connection.stopReading();
    return connection;
  }

  get welcomed(): boolean {
    return this.received.some((message) => message.kind === 2);
  }

  /** The first error the broker sent, as `CODE: message`; null if none. */
  get firstError(): string | null {
    const error = this.received.find((message) => message.kind === 9);
    return error?.kind === 9 ? `${error.code}: ${error.message}` : null;
  }

  send(value: unknown): boolean {
    return this.socket.write(frameOf(value));
  }

  sendBytes(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  /** Leaves what the broker sends unread from now on: its buffers for this connection fill. */
  stopReading(): void {
    this.socket.removeAllListeners('data');
    this.socket.pause();
  }

  /** Resolves with the first received message `test` accepts, or null after the deadline or at close. */
  waitFor(test: (message: BrokerMessage) => boolean, timeoutMs: number): Promise<BrokerMessage | null> {
    return new Promise((resolve) => {
      const check = () => {
        const found = this.received.find(test);
        if (found || this.closed) finish(found ?? null);
      };
      const finish = (value: BrokerMessage | null) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(this.received.find(test) ?? null), timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  /** Pings and waits for the pong: true once everything sent before it was processed (§3.6). */
  async ping(token: number, timeoutMs = 10_000): Promise<boolean> {
    this.send([7, token]);
    return (await this.waitFor((message) => message.kind === 8 && message.token === token, timeoutMs)) !== null;
  }

  /** What was received so far, removed: for agents that read in rounds and must not grow. */
  take(): BrokerMessage[] {
    return this.received.splice(0);
  }

  /** Resolves once the socket can take more (or is closed). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('drain', resolve);
      this.socket.once('close', resolve);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}
