import net from 'node:net';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { afterEach } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../protocol/index.js';
import { makeTempDir } from '../helpers/processes.js';

/**
 * A broker in the test process that speaks just enough of the protocol to
 * misbehave on purpose: it welcomes each hello (unless told not to) and hands
 * every later frame, decoded as a plain msgpack array, to the test.
 */
export class FakeBroker {
  /** Connections accepted so far, handshake or not. */
  connections = 0;
  readonly sockets = new Set<FakeConnection>();

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async start(behaviour: { welcome?: boolean; onFrame?(connection: FakeConnection, frame: unknown[]): void; onWelcomed?(connection: FakeConnection): void } = {}): Promise<FakeBroker> {
    const path = join(makeTempDir(), 'fake.sock');
    let broker!: FakeBroker;
    const server = net.createServer((socket) => {
      broker.connections++;
      const connection = new FakeConnection(socket, broker.connections);
      broker.sockets.add(connection);
      socket.on('close', () => broker.sockets.delete(connection));
      connection.onFrame = (frame) => {
        if (frame[0] === 1 && !connection.welcomed) {
          if (behaviour.welcome === false) return;
          connection.welcome();
          behaviour.onWelcomed?.(connection);
          return;
        }
        behaviour.onFrame?.(connection, frame);
      };
    });
    broker = new FakeBroker(server, path);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    started.add(broker);
    return broker;
  }

  async stop(): Promise<void> {
    for (const connection of this.sockets) connection.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export class FakeConnection {
  welcomed = false;
  readonly frames: unknown[][] = [];
  onFrame: (frame: unknown[]) => void = () => undefined;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
    const frame = unpack(body) as unknown[];
    this.frames.push(frame);
    this.onFrame(frame);
  });

  constructor(
    readonly socket: net.Socket,
    readonly id: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', () => undefined);
  }

  welcome(): void {
    this.welcomed = true;
    this.send([2, { version: 2, connectionId: this.id, server: 'fake 0.0.0', maxFrameBytes: 1024 * 1024, maxBrokerFrameBytes: 1024 * 1024 + 1024, maxTopicBytes: 256, maxPendingBytes: 8 * 1024 * 1024 }]);
  }

  send(value: unknown): void {
    this.socket.write(encodeFrame(pack(value)));
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}

const started = new Set<FakeBroker>();

afterEach(async () => {
  await Promise.all([...started].map((broker) => broker.stop()));
  started.clear();
});
