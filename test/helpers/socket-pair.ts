import net from 'node:net';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { decodeBrokerMessage, FrameDecoder, type BrokerMessage } from '../../protocol/index.js';
import { makeTempDir } from './processes.js';
import { waitFor } from './wait.js';

const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();

/** The far end of a broker-side socket: what a client would read, decoded frame by frame. */
export class Peer {
  readonly received: BrokerMessage[] = [];
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
    const message = decodeBrokerMessage(body);
    if (message) this.received.push(message);
  });

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
  }

  /** Stops reading: what the broker sends piles up in its buffers and then in ours. */
  stopReading(): void {
    this.socket.pause();
  }

  startReading(): void {
    this.socket.resume();
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  async waitForCount(count: number, what = `${count} frames`): Promise<void> {
    await waitFor(() => this.received.length >= count, what);
  }
}

/**
 * A connected pair of real Unix sockets in a temp directory: `broker` is the
 * accepted end, as the broker gets it; `peer` reads what is written to it.
 * Both ends and the server are destroyed after the test.
 */
export async function socketPair(): Promise<{ broker: net.Socket; peer: Peer }> {
  const path = join(makeTempDir(), 'pair.sock');
  const server = net.createServer();
  servers.add(server);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(path);
  sockets.add(client);
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const broker = await accepted;
  sockets.add(broker);
  return { broker, peer: new Peer(client) };
}

afterEach(() => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  for (const server of servers) server.close();
  servers.clear();
});
