import type { Client } from '../../client/index.js';
import { startBroker, type TestBroker } from './broker.js';
import { checkSequences, SequencePublisher, SequenceSubscriber, type SequenceReport } from './sequence.js';
import { waitFor } from './wait.js';

export interface CrashCycleOptions {
  socketPath: string;
  firstBroker: TestBroker;
  cycles: number;
  publishers: number;
  subscribers: number;
  /** Traffic between two crashes. */
  runMs?: number;
  /** Each publisher sends `batch` messages every `intervalMs`. */
  batch?: number;
  intervalMs?: number;
  /** Called with every broker the run starts, to watch it. */
  onBrokerStarted?(broker: TestBroker): void;
  connect(path: string, name: string): Promise<Client>;
  /** Called after each cycle, for progress lines. */
  onCycle?(cycle: number, reconnectMs: number): void;
}

export interface CrashCycleResult {
  cycles: number;
  /** Per cycle: from the new broker's listening line to every client resubscribed. */
  reconnectMs: number[];
  p50Ms: number;
  maxMs: number;
  report: SequenceReport;
}

/**
 * SIGKILLs and restarts the broker again and again while sequence-checked
 * publishers and subscribers run, timing how long the clients take to come
 * back. Shared by the crash-cycle test and `npm run soak`.
 */
/**
 * Waits until every subscriber has every publisher's last message, or until
 * deliveries stop for half a second (the last ones may be legitimately lost).
 */
export async function settle(subscribers: SequenceSubscriber[], publishers: SequencePublisher[]): Promise<void> {
  let lastTotal = -1;
  let quietSince = Date.now();
  await waitFor(
    () => {
      const complete = subscribers.every((subscriber) =>
        publishers.every((publisher) => (subscriber.lastSeen.get(publisher.name) ?? 0) >= publisher.seq),
      );
      const total = subscribers.reduce((sum, subscriber) => sum + subscriber.received, 0);
      if (total !== lastTotal) {
        lastTotal = total;
        quietSince = Date.now();
      }
      return complete || Date.now() - quietSince > 500;
    },
    'deliveries to settle',
    30_000,
  );
}

export async function runCrashCycles(options: CrashCycleOptions): Promise<CrashCycleResult> {
  const { socketPath, cycles, runMs = 300, batch = 5, intervalMs = 5 } = options;
  const publishers: SequencePublisher[] = [];
  const subscribers: SequenceSubscriber[] = [];
  for (let index = 0; index < options.subscribers; index++) {
    const subscriber = new SequenceSubscriber(await options.connect(socketPath, `subscriber-${index}`));
    await subscriber.client.flush();
    subscribers.push(subscriber);
  }
  for (let index = 0; index < options.publishers; index++) {
    publishers.push(new SequencePublisher(`p${index}`, await options.connect(socketPath, `publisher-${index}`)));
  }
  const clients = [...subscribers.map((subscriber) => subscriber.client), ...publishers.map((publisher) => publisher.client)];

  // Each publisher sends a few messages every few milliseconds, from timers.
  let publishing = true;
  const loops = publishers.map(async (publisher) => {
    while (publishing) {
      publisher.publish(batch);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  });

  const reconnectMs: number[] = [];
  let broker = options.firstBroker;
  options.onBrokerStarted?.(broker);
  for (let cycle = 1; cycle <= cycles; cycle++) {
    await new Promise((resolve) => setTimeout(resolve, runMs));
    const reconnectsBefore = clients.map((client) => client.counters.reconnects);
    await broker.child.kill('SIGKILL');
    broker = await startBroker({ socketPath });
    const listeningAt = Date.now();
    options.onBrokerStarted?.(broker);
    await waitFor(
      () => clients.every((client, index) => client.counters.reconnects > reconnectsBefore[index]!) && subscribers.every((subscriber) => subscriber.reconnected),
      `all clients to reconnect and resubscribe after crash ${cycle}`,
      20_000,
    );
    const elapsed = Date.now() - listeningAt;
    reconnectMs.push(elapsed);
    options.onCycle?.(cycle, elapsed);
  }

  publishing = false;
  await Promise.all(loops);
  for (const publisher of publishers) await publisher.client.flush();
  await settle(subscribers, publishers);

  const sorted = [...reconnectMs].sort((a, b) => a - b);
  return {
    cycles: reconnectMs.length,
    reconnectMs,
    p50Ms: sorted[Math.floor(sorted.length / 2)] ?? 0,
    maxMs: sorted[sorted.length - 1] ?? 0,
    report: checkSequences(publishers, subscribers),
  };
}
