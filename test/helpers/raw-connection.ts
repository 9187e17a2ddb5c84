import net from 'node:net';
import { pack } from 'msgpackr';
import { afterEach } from 'vitest';
import { decodeBrokerMessage, encodeFrame, FrameDecoder, type BrokerMessage } from '../../protocol/index.js';
import { waitFor } from './wait.js';

const open = new Set<net.Socket>();

/** A hand-driven connection for sending the broker bytes no well-behaved client would. */
export class RawConnection {
  readonly received: BrokerMessage[] = [];
  /** Every frame body as it came, for checks of the exact bytes the broker sends. */
  readonly rawBodies: Buffer[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
    this.rawBodies.push(Buffer.from(body));
    const message = decodeBrokerMessage(body);
    if (message) this.received.push(message);
  });

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(path: string, options: { hello?: boolean } = {}): Promise<RawConnection> {
    const socket = net.connect(path);
    open.add(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const connection = new RawConnection(socket);
    if (options.hello ?? true) {
      connection.sendValue([1, { version: 2, name: 'raw' }]);
      await connection.waitForKind(2);
    }
    return connection;
  }

  sendValue(value: unknown): void {
    this.socket.write(RawConnection.frame(value));
  }

  /** The msgpack encoding of a value, as msgpackr gives it. */
  static packValue(value: unknown): Buffer {
    return pack(value);
  }

  /** A whole frame holding `value`. */
  static frame(value: unknown): Buffer {
    return encodeFrame(pack(value));
  }

  sendBytes(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.from(bytes));
  }

  /** Waits until `condition` holds for what has arrived. */
  async waitFor(condition: () => boolean, what: string, timeoutMs?: number): Promise<void> {
    await waitFor(condition, what, timeoutMs);
  }

  async waitForKind(kind: number, timeoutMs?: number): Promise<BrokerMessage> {
    await waitFor(() => this.received.some((message) => message.kind === kind), `a message of kind ${kind}`, timeoutMs);
    return this.received.find((message) => message.kind === kind)!;
  }

  async waitForClose(): Promise<void> {
    await waitFor(() => this.closed, 'the broker to close the connection');
  }
}

afterEach(() => {
  for (const socket of open) socket.destroy();
  open.clear();
});
