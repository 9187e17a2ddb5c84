import net from 'node:net';
import { join } from 'node:path';
import { Packr, unpack } from 'msgpackr';
import { afterEach } from 'vitest';
import { makeTempDir } from '../helpers/processes.js';

/** Plain MessagePack, as sockbusd writes it. */
const packer = new Packr({ useRecords: false });

/** A frame: the 4-byte big-endian length, then the body (PROTOCOL.md §2). */
export function frameOf(body: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

export function pack(value: unknown): Buffer {
  return packer.pack(value);
}

/** The welcome of PROTOCOL.md §7, every key of §3.2. */
export const WELCOME = {
  version: 2, connectionId: 1, server: 'fake 0.2.0', senders: true, maxFrameBytes: 1048576, maxBrokerFrameBytes: 1049600, maxTopicBytes: 256,
  maxPatternTokens: 16, maxPatternWildcards: 3, maxHeaderEntries: 64, maxHeaderBytes: 16384, maxSubscriptions: 10000, maxRequests: 10000,
  maxPendingBytes: 8388608, keepaliveMs: 30000,
};

export class FakeConnection {
  readonly frames: unknown[][] = [];
  private buffered = Buffer.alloc(0);

  constructor(readonly socket: net.Socket, onFrame: (frame: unknown[]) => void) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readUInt32BE(0)) {
        const length = this.buffered.readUInt32BE(0);
        const frame = unpack(this.buffered.subarray(4, 4 + length)) as unknown[];
        this.buffered = this.buffered.subarray(4 + length);
        this.frames.push(frame);
        onFrame(frame);
      }
    });
  }

  send(value: unknown): void {
    if (!this.socket.destroyed) this.socket.write(frameOf(pack(value)));
  }

  sendBytes(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }
}

/**
 * A protocol 2 broker in the test process that welcomes each hello and then
 * does what the test says (misbehaves on purpose), on a socket in a temp directory.
 */
export class FakeBroker {
  connections = 0;
  readonly sockets = new Set<FakeConnection>();
  /** Every frame any connection sent, in order, closed connections' too. */
  readonly frames: unknown[][] = [];

  private constructor(private readonly server: net.Server, readonly path: string) {}

  static async start(
    behaviour: { welcome?: Record<string, unknown>; onWelcomed?(connection: FakeConnection): void; onFrame?(connection: FakeConnection, frame: unknown[]): void } = {},
  ): Promise<FakeBroker> {
    const path = join(makeTempDir(), 'fake.sock');
    let broker!: FakeBroker;
    const server = net.createServer((socket) => {
      broker.connections++;
      const connection: FakeConnection = new FakeConnection(socket, (frame) => {
        broker.frames.push(frame);
        if (frame[0] === 1) {
          connection.send([2, { ...WELCOME, connectionId: broker.connections, ...behaviour.welcome }]);
          behaviour.onWelcomed?.(connection);
        } else behaviour.onFrame?.(connection, frame);
      });
      broker.sockets.add(connection);
      socket.on('close', () => broker.sockets.delete(connection));
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

const started = new Set<FakeBroker>();

afterEach(async () => {
  await Promise.all([...started].map((broker) => broker.stop()));
  started.clear();
});
