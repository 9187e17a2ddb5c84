import net from 'node:net';
import { join } from 'node:path';
import { Packr, unpack } from 'msgpackr';
import { afterEach } from 'vitest';
import { makeTempDir } from './processes.js';

/**
 * A protocol 2 broker in the test process that speaks just enough of the
 * protocol to misbehave on purpose, for every client under test (TypeScript,
 * Python, C): on a socket in a temp directory, it welcomes each version 2
 * hello as PROTOCOL.md section 7 does (and refuses any other version as
 * sockbusd does), answers pings and subscribes unless told not to, and hands
 * every other frame to the test. Stopped after each test.
 *
 * Framing is written here (not imported from protocol/) so that these tests
 * check the clients against the spec's bytes, not against our own decoder.
 */
export interface FakeBehaviour {
  /** Keys merged into the welcome (e.g. a small maxBrokerFrameBytes); false: hellos go unanswered. */
  welcome?: Record<string, unknown> | false;
  /** Frames sent in the same write as the welcome, so that a client reads them with it. */
  withWelcome?: unknown[];
  /** When false, pings go unanswered. @default true */
  pong?: boolean;
  /** When false, subscribes get no `[16, id]`. @default true */
  subscribed?: boolean;
  /** Called for each frame after hello, pings and subscribes included, after the default answer. */
  onFrame?(connection: FakeConnection, frame: unknown[]): void;
  onWelcomed?(connection: FakeConnection): void;
}

export class FakeBroker {
  /** Connections accepted so far, handshake or not. */
  connections = 0;
  /** The connections still open. */
  readonly sockets = new Set<FakeConnection>();
  /** Every connection accepted, open or closed, oldest first. */
  readonly accepted: FakeConnection[] = [];
  /** Every frame after hello that any connection sent, in the order they arrived. */
  readonly frames: unknown[][] = [];
  private server: net.Server | null = null;

  private constructor(
    readonly path: string,
    private readonly behaviour: FakeBehaviour,
  ) {}

  static async start(behaviour: FakeBehaviour = {}, path = join(makeTempDir(), 'fake.sock')): Promise<FakeBroker> {
    const broker = new FakeBroker(path, behaviour);
    await broker.listen();
    started.add(broker);
    return broker;
  }

  /** Starts listening (again, after stop(): a restart on the same path makes a new socket file). */
  async listen(): Promise<void> {
    const server = net.createServer((socket) => {
      this.connections++;
      const connection = new FakeConnection(socket, this.connections, this.behaviour, this.frames);
      this.sockets.add(connection);
      this.accepted.push(connection);
      socket.on('close', () => this.sockets.delete(connection));
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  /** The connection most recently accepted. */
  get latest(): FakeConnection | undefined {
    return this.accepted.at(-1);
  }

  async stop(): Promise<void> {
    for (const connection of this.sockets) connection.socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export class FakeConnection {
  welcomed = false;
  hello: Record<string, unknown> | undefined;
  /** Every frame after hello, decoded as plain msgpack (`['undecodable here']` for one that is not). */
  readonly frames: unknown[][] = [];
  /** Every frame body after hello, as received. */
  readonly bodies: Buffer[] = [];
  private buffer = Buffer.alloc(0);

  constructor(
    readonly socket: net.Socket,
    readonly id: number,
    private readonly behaviour: FakeBehaviour,
    private readonly brokerFrames: unknown[][],
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined);
  }

  /** Frames of one kind received so far. */
  framesOf(kind: number): unknown[][] {
    return this.frames.filter((frame) => frame[0] === kind);
  }

  send(value: unknown): void {
    this.sendBytes(frameOf(pack(value)));
  }

  sendBytes(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (this.buffer.length < 4 + length) return;
      const body = Buffer.from(this.buffer.subarray(4, 4 + length));
      this.buffer = this.buffer.subarray(4 + length);
      let frame: unknown[];
      try {
        frame = unpack(body) as unknown[];
      } catch {
        frame = ['undecodable here'];
      }
      this.handle(frame, body);
    }
  }

  private handle(frame: unknown[], body: Buffer): void {
    if (frame[0] === 1 && !this.welcomed) {
      this.hello = frame[1] as Record<string, unknown>;
      const welcome = this.behaviour.welcome;
      if (welcome === false) return;
      const version = this.hello?.['version'];
      if (version !== 2) {
        // As sockbusd 2 answers (section 3.1).
        this.send([9, 'UNSUPPORTED_VERSION', `protocol version ${version} is not supported; this broker speaks version 2`, { kind: 1 }]);
        this.socket.end();
        return;
      }
      this.welcomed = true;
      const frames = [[2, { ...WELCOME, connectionId: this.id, ...welcome }], ...(this.behaviour.withWelcome ?? [])];
      this.sendBytes(Buffer.concat(frames.map((value) => frameOf(pack(value)))));
      this.behaviour.onWelcomed?.(this);
      return;
    }
    this.frames.push(frame);
    this.bodies.push(body);
    this.brokerFrames.push(frame);
    if (frame[0] === 7 && this.behaviour.pong !== false) this.send([8, frame[1]]);
    if (frame[0] === 4 && this.behaviour.subscribed !== false) this.send([16, frame[1]]);
    this.behaviour.onFrame?.(this, frame);
  }
}

/** Section 7's welcome, key for key. */
export const WELCOME = {
  version: 2,
  connectionId: 1,
  server: 'sockbusd 0.2.0',
  senders: true,
  maxFrameBytes: 1048576,
  maxBrokerFrameBytes: 1049600,
  maxTopicBytes: 256,
  maxPatternTokens: 16,
  maxPatternWildcards: 3,
  maxHeaderEntries: 64,
  maxHeaderBytes: 16384,
  maxSubscriptions: 10000,
  maxRequests: 10000,
  maxPendingBytes: 8388608,
  keepaliveMs: 30000,
};

/** Plain MessagePack, as sockbusd writes it. */
const packer = new Packr({ useRecords: false });

export function pack(value: unknown): Buffer {
  return packer.pack(value);
}

/** A frame: the body's length as a big-endian uint32, then the body (section 2). */
export function frameOf(body: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

const started = new Set<FakeBroker>();

afterEach(async () => {
  await Promise.all([...started].map((broker) => broker.stop()));
  started.clear();
});
