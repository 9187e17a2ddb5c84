import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SubscribeResult } from './peer.js';
import { startPeer, type Peer } from './peers.js';
import { cpuSeconds, residentBytes, type ServerDefinition } from './servers.js';

export interface Scenario {
  id: string;
  title: string;
  publishers: number;
  subscribers: number;
  /** Messages per publisher. */
  count: number;
  size: number;
  /** Paced publishing, for latency. */
  ratePerSecond?: number;
  /** Unrelated subscriptions another client holds during the run. */
  unrelatedSubscriptions?: number;
}

export interface RunResult {
  deliveries: number;
  expected: number;
  lost: number;
  /** Deliveries per second at the subscribers, first delivery to last. */
  perSecond: number;
  megabytesPerSecond: number;
  serverCpuMicrosPerDelivery: number;
  latencyMicros: SubscribeResult['latencyMicros'];
}

export interface MemoryResult {
  idleBytes: number;
  loadedBytes: number;
  perConnectionBytes: number;
  afterBytes: number;
}

const TOPIC = 'bench.data';

function scratchDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'sockbus-bench-'));
}

/** One run of one scenario against one freshly started server. */
export async function runScenario(server: ServerDefinition, scenario: Scenario): Promise<RunResult> {
  const directory = scratchDirectory();
  const running = await server.start(directory);
  const peers: Peer[] = [];
  try {
    const { system, address } = running;
    const timeoutMs = 120_000;
    if (scenario.unrelatedSubscriptions) {
      const holder = startPeer({ role: 'hold', system, address, connections: 1, subscriptionsEach: scenario.unrelatedSubscriptions }, timeoutMs);
      peers.push(holder);
      await holder.ready;
    }
    const expectedEach = scenario.publishers * scenario.count;
    const subscribers = Array.from({ length: scenario.subscribers }, () =>
      startPeer({ role: 'subscribe', system, address, topic: TOPIC, expect: expectedEach, idleTimeoutMs: 2000, measureLatency: Boolean(scenario.ratePerSecond) }, timeoutMs),
    );
    peers.push(...subscribers);
    await Promise.all(subscribers.map((subscriber) => subscriber.ready));
    const cpuBefore = cpuSeconds(running.pid);
    const publishers = Array.from({ length: scenario.publishers }, () =>
      startPeer({ role: 'publish', system, address, topic: TOPIC, count: scenario.count, size: scenario.size, ratePerSecond: scenario.ratePerSecond }, timeoutMs),
    );
    peers.push(...publishers);
    const results = (await Promise.all(subscribers.map((subscriber) => subscriber.result))) as SubscribeResult[];
    const cpuUsed = cpuSeconds(running.pid) - cpuBefore;
    await Promise.all(publishers.map((publisher) => publisher.result));

    const deliveries = results.reduce((sum, result) => sum + result.received, 0);
    const expected = expectedEach * scenario.subscribers;
    const active = results.filter((result) => result.received > 0);
    const seconds = active.length ? (Math.max(...active.map((result) => result.lastAt)) - Math.min(...active.map((result) => result.firstAt))) / 1000 : 0;
    const perSecond = seconds > 0 ? deliveries / seconds : 0;
    return {
      deliveries,
      expected,
      lost: expected - deliveries,
      perSecond,
      megabytesPerSecond: (perSecond * scenario.size) / 1e6,
      serverCpuMicrosPerDelivery: deliveries ? (cpuUsed * 1e6) / deliveries : 0,
      latencyMicros: results[0]?.latencyMicros ?? null,
    };
  } finally {
    for (const peer of peers) peer.kill();
    await running.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Server memory: idle, with many idle clients holding subscriptions, and after they leave. */
export async function measureMemory(server: ServerDefinition, connections: number, subscriptionsEach: number): Promise<MemoryResult> {
  const directory = scratchDirectory();
  const running = await server.start(directory);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idleBytes = residentBytes(running.pid);
    const holder = startPeer({ role: 'hold', system: running.system, address: running.address, connections, subscriptionsEach }, 300_000);
    await holder.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const loadedBytes = residentBytes(running.pid);
    holder.kill();
    await holder.result.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterBytes = residentBytes(running.pid);
    return { idleBytes, loadedBytes, perConnectionBytes: (loadedBytes - idleBytes) / connections, afterBytes };
  } finally {
    await running.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
