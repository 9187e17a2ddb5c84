import net from 'node:net';
import type { Redis } from 'ioredis';
import type mqtt from 'mqtt';
import { connect as sockbusConnect } from '../client/index.js';
import { FRAME_HEADER_BYTES, FrameDecoder } from '../protocol/index.js';

// The peers' client libraries are loaded only by the process that uses them:
// every benchmark process starts faster, and a run of one system needs only its own.

/** What a benchmark process needs from any bus: the same four verbs for every system. */
export interface BenchClient {
  subscribe(topic: string, onMessage: (payload: Uint8Array) => void): Promise<void>;
  publish(topic: string, payload: Buffer): void;
  /** Resolves once the server has everything published so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Every system in the report; `sockbus-c` is the same broker driven by the C clients (clients/c/bench/). */
export type SystemName = 'sockbus' | 'sockbus-c' | 'raw' | 'redis' | 'mosquitto' | 'nats';
/** The systems whose bench clients are the Node ones below. */
export type NodeSystemName = Exclude<SystemName, 'sockbus-c'>;

export async function connectBenchClient(system: NodeSystemName, address: string): Promise<BenchClient> {
  switch (system) {
    case 'sockbus':
      return sockbusClient(address);
    case 'raw':
      return rawClient(address);
    case 'redis':
      return redisClient(address);
    case 'mosquitto':
      return mosquittoClient(address);
    case 'nats':
      return natsClient(address);
  }
}

async function sockbusClient(path: string): Promise<BenchClient> {
  const client = await sockbusConnect({ path, noEcho: true, maxPendingBytes: 512 * 1024 * 1024 });
  return {
    async subscribe(topic, onMessage) {
      client.subscribe<Uint8Array>(topic, (message) => onMessage(message.data));
      await client.flush();
    },
    publish: (topic, payload) => client.publish(topic, payload),
    flush: () => client.flush(),
    close: () => client.close(),
  };
}

/** Speaks the relay's only format: length-prefixed payloads, every frame to every receiver. */
async function rawClient(path: string): Promise<BenchClient> {
  const socket = net.connect(path);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let listener: ((payload: Uint8Array) => void) | null = null;
  const decoder = new FrameDecoder(64 * 1024 * 1024, (payload) => listener?.(payload));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  let corked = false;
  return {
    async subscribe(_topic, onMessage) {
      listener = onMessage;
      socket.write(Buffer.alloc(FRAME_HEADER_BYTES)); // an empty frame: "send me everything"
    },
    publish(_topic, payload) {
      if (!corked) {
        corked = true;
        socket.cork();
        queueMicrotask(() => {
          corked = false;
          socket.uncork();
        });
      }
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      header.writeUInt32BE(payload.length);
      socket.write(header);
      socket.write(payload);
    },
    // A drain into the kernel, not a round trip: the relay has no acknowledgement. 'drain' comes only
    // after a write went past the high-water mark, so a smaller remainder is waited out a turn at a time.
    async flush() {
      while (socket.writableLength > 0) {
        if (socket.writableNeedDrain) await new Promise((resolve) => socket.once('drain', resolve));
        else await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      socket.end();
    },
  };
}

async function redisClient(path: string): Promise<BenchClient> {
  // Auto-pipelining batches commands the way sockbus batches publishes: the fair comparison.
  const { Redis } = await import('ioredis');
  const publisher = new Redis({ path, enableAutoPipelining: true, lazyConnect: true });
  await publisher.connect();
  // A Redis connection in subscribe mode can do nothing else, so subscriptions get one of their own.
  let subscriber: Redis | null = null;
  const listeners = new Map<string, (payload: Uint8Array) => void>();
  return {
    async subscribe(topic, onMessage) {
      if (!subscriber) {
        subscriber = new Redis({ path, lazyConnect: true });
        await subscriber.connect();
        subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => listeners.get(channel.toString())?.(message));
      }
      listeners.set(topic, onMessage);
      await subscriber.subscribe(topic);
    },
    publish: (topic, payload) => void publisher.publish(topic, payload),
    flush: async () => void (await publisher.ping()),
    async close() {
      publisher.disconnect();
      subscriber?.disconnect();
    },
  };
}

async function mosquittoClient(path: string): Promise<BenchClient> {
  const { default: mqttLibrary } = await import('mqtt');
  const client = mqttLibrary.connect({ protocol: 'mqtt', unixSocket: true, path, reconnectPeriod: 0 } as mqtt.IClientOptions);
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return {
    async subscribe(topic, onMessage) {
      client.on('message', (_topic, payload) => onMessage(payload));
      await client.subscribeAsync(topic, { qos: 0 });
    },
    publish: (topic, payload) => void client.publish(topic, payload, { qos: 0 }),
    // QoS 0 has no acknowledgement; a QoS 1 publish after the rest is acknowledged once the broker has them all.
    flush: async () => void (await client.publishAsync('bench.flush', '', { qos: 1 })),
    close: () => client.endAsync(),
  };
}

async function natsClient(address: string): Promise<BenchClient> {
  const { connect: natsConnect } = await import('nats');
  const connection = await natsConnect({ servers: address });
  return {
    async subscribe(topic, onMessage) {
      connection.subscribe(topic, { callback: (_error, message) => onMessage(message.data) });
      await connection.flush();
    },
    publish: (topic, payload) => connection.publish(topic, payload),
    flush: () => connection.flush(),
    close: () => connection.close(),
  };
}
