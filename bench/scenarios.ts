import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeSystemName, SystemName } from './adapters.js';
import { CpuSampler, now } from './cpu.js';
import type { SubscribeResult } from './peer.js';
import { startPeer, type Peer } from './peers.js';
import { residentBytes, type ServerDefinition } from './servers.js';

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
  cpuPercent: CpuShares;
}

/**
 * CPU share of each process over the measured window (from the publishers'
 * go to the last delivery), in percent of one core: 100 is a saturated
 * single-threaded process (above 100, more threads at work: nats-server's,
 * or Node's garbage collector's). A pipeline where no process is near 100
 * is waiting on something other than CPU.
 */
export interface CpuShares {
  /** Summed over the processes of each role (10 publishers in (c), 10 subscribers in (b)). */
  publishers: number;
  broker: number;
  subscribers: number;
  perPublisher: number[];
  perSubscriber: number[];
  /**
   * The rest of the machine's busy time over the window, all cores (200 is
   * both of two cores): the orchestrator, a holder, and whatever else runs
   * on a shared machine. Where it is high, low shares above are contention,
   * not a stall.
   */
  others: number;
  windowSeconds: number;
}

export interface MemoryResult {
  idleBytes: number;
  loadedBytes: number;
  perConnectionBytes: number;
  afterBytes: number;
}

const TOPIC = 'bench.data';

/** Idle connections and subscriptions cost the broker the same whoever holds them, so the C clients' runs use a Node holder. */
const holderFor = (system: SystemName): NodeSystemName => (system === 'sockbus-c' ? 'sockbus' : system);

function scratchDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'sockbus-bench-'));
}

/**
 * One run of one scenario against one freshly started server. flowBytes:
 * the publishers' flow-control window (0: unbounded).
 */
export async function runScenario(server: ServerDefinition, scenario: Scenario, flowBytes: number): Promise<RunResult> {
  const directory = scratchDirectory();
  const running = await server.start(directory);
  const peers: Peer[] = [];
  try {
    const { system, address } = running;
    const timeoutMs = 120_000;
    if (scenario.unrelatedSubscriptions) {
      const holder = startPeer({ role: 'hold', system: holderFor(system), address, connections: 1, subscriptionsEach: scenario.unrelatedSubscriptions }, timeoutMs);
      peers.push(holder);
      await holder.ready;
    }
    const expectedEach = scenario.publishers * scenario.count;
    const subscribers = Array.from({ length: scenario.subscribers }, () =>
      startPeer({ role: 'subscribe', system, address, topic: TOPIC, expect: expectedEach, idleTimeoutMs: 2000, measureLatency: Boolean(scenario.ratePerSecond) }, timeoutMs),
    );
    peers.push(...subscribers);
    await Promise.all(subscribers.map((subscriber) => subscriber.ready));
    const publishers = Array.from({ length: scenario.publishers }, () =>
      startPeer({ role: 'publish', system, address, topic: TOPIC, count: scenario.count, size: scenario.size, ratePerSecond: scenario.ratePerSecond, flowBytes }, timeoutMs),
    );
    peers.push(...publishers);
    // Every publisher connected before any starts: start-up is outside the window, and fan-in starts together.
    await Promise.all(publishers.map((publisher) => publisher.ready));
    const sampler = new CpuSampler([running.pid, ...publishers.map((peer) => peer.pid), ...subscribers.map((peer) => peer.pid)]);
    const startedAt = sampler.start();
    for (const peer of [...subscribers, ...publishers]) peer.go();
    let results: SubscribeResult[];
    try {
      results = (await Promise.all(subscribers.map((subscriber) => subscriber.result))) as SubscribeResult[];
      await Promise.all(publishers.map((publisher) => publisher.result));
    } finally {
      sampler.stop();
    }

    const deliveries = results.reduce((sum, result) => sum + result.received, 0);
    const expected = expectedEach * scenario.subscribers;
    const active = results.filter((result) => result.received > 0);
    const seconds = active.length ? (Math.max(...active.map((result) => result.lastAt)) - Math.min(...active.map((result) => result.firstAt))) / 1000 : 0;
    const perSecond = seconds > 0 ? deliveries / seconds : 0;
    // The window ends at the last delivery, not when a subscriber that lost messages gave up waiting.
    const windowEnd = active.length ? Math.max(...active.map((result) => result.lastAt)) : now();
    const windowSeconds = Math.max(0.001, (windowEnd - startedAt) / 1000);
    const used = sampler.usedUntil(windowEnd);
    const percent = (cpu: number) => Math.round((cpu / windowSeconds) * 1000) / 10;
    const perPublisher = used.processes.slice(1, 1 + publishers.length).map(percent);
    const perSubscriber = used.processes.slice(1 + publishers.length).map(percent);
    const ours = used.processes.reduce((total, seconds) => total + seconds, 0);
    const sum = (values: number[]) => Math.round(values.reduce((total, value) => total + value, 0) * 10) / 10;
    const result: RunResult = {
      deliveries,
      expected,
      lost: expected - deliveries,
      perSecond,
      megabytesPerSecond: (perSecond * scenario.size) / 1e6,
      serverCpuMicrosPerDelivery: deliveries ? (used.processes[0]! * 1e6) / deliveries : 0,
      latencyMicros: results[0]?.latencyMicros ?? null,
      cpuPercent: {
        publishers: sum(perPublisher),
        broker: percent(used.processes[0]!),
        subscribers: sum(perSubscriber),
        perPublisher,
        perSubscriber,
        others: percent(Math.max(0, used.machine - ours)),
        windowSeconds,
      },
    };
    // Let each peer close its connection and exit before the server stops.
    await Promise.all([...publishers, ...subscribers].map((peer) => peer.release().catch(() => undefined)));
    return result;
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
    const holder = startPeer({ role: 'hold', system: holderFor(running.system), address: running.address, connections, subscriptionsEach }, 300_000);
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
