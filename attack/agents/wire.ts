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

/** A hand-driven connection: bytes in, decoded broker messages out. */
export class RawConnection {
  readonly received: BrokerMessage[] = [];
  closed = false;
  closeError: string | null = null;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
    try {
      this.received.push(decodeBrokerMessage(body));
    } catch {
      // An undecodable frame from the broker is not what these attacks measure.
    }
  });

  private constructor(readonly socket: net.Socket) {
    socket.on('close', () => (this.closed = true));
    socket.on('error', (error) => (this.closeError ??= error.message));
  }

  /** Connects and, unless `hello` is false, completes the handshake. `read`: false leaves the socket unread (paused). */
  static async open(path: string, options: { hello?: boolean; name?: string; read?: boolean } = {}): Promise<RawConnection> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const connection = new RawConnection(socket);
    socket.on('data', (chunk: Buffer) => connection.decoder.push(chunk));
    if (options.hello ?? true) {
      connection.send([1, { version: 1, name: options.name ?? 'attack' }]);
      await connection.waitFor((message) => message.kind === 2, 5000);
    }
    if (options.read === false) {
      socket.removeAllListeners('data');
      socket.pause();
    }
    return connection;
  }

  send(value: unknown): boolean {
    return this.socket.write(frameOf(value));
  }

  sendBytes(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  /** Resolves with the first received message `test` accepts, or null after the deadline or at close. */
  async waitFor(test: (message: BrokerMessage) => boolean, timeoutMs: number): Promise<BrokerMessage | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(test);
      if (found) return found;
      if (this.closed || Date.now() > deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
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
}
