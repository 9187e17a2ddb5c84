import { mkdirSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { connect, type Client } from '../../client/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { runCrashCycles } from '../helpers/crash-cycles.js';
import { MiB, processMemory } from '../helpers/memory.js';

const seconds = Number(process.env['SOCKBUS_LONG_RUN_SECONDS'] ?? 600);
const STABLE_PUBLISHERS = 20;
const STABLE_SUBSCRIBERS = 20;
const CHURNING_CLIENTS = 60;

/** A client that connects, subscribes, publishes a little and leaves, again and again. */
async function churn(path: string, until: () => boolean, counts: { sessions: number; failures: number }): Promise<void> {
  while (!until()) {
    let client: Client | null = null;
    try {
      client = await connect({ path, name: 'churn', waitForBroker: true });
      client.subscribe('churn.>', () => undefined);
      for (let index = 0; index < 10; index++) client.publish(`churn.${index}`, { index });
      await client.flush();
      counts.sessions++;
    } catch {
      counts.failures++; // a crash cycle cut this session short: expected, and counted
    } finally {
      await client?.close();
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2000));
  }
}

it(`soaks the broker for ${seconds} s: 100 clients, churn, a crash every minute, sequence checks`, async () => {
  const broker = await startBroker({ args: ['--log-level', 'error'] });
  const startedAt = Date.now();
  let peakRss = 0;
  const brokers: TestBroker[] = [];
  const monitor = setInterval(() => {
    for (const running of brokers.filter((candidate) => candidate.child.running)) peakRss = Math.max(peakRss, processMemory(running.child.pid, 'VmHWM'));
  }, 500);

  let done = false;
  const churnCounts = { sessions: 0, failures: 0 };
  const churners = Array.from({ length: CHURNING_CLIENTS }, () => churn(broker.socketPath, () => done, churnCounts));
  const cycles = Math.max(1, Math.floor(seconds / 60));
  const result = await runCrashCycles({
    socketPath: broker.socketPath,
    firstBroker: broker,
    cycles,
    runMs: (seconds * 1000) / cycles,
    publishers: STABLE_PUBLISHERS,
    subscribers: STABLE_SUBSCRIBERS,
    batch: 5,
    intervalMs: 50,
    connect: (path, name) => connectClient(path, { name }),
    onBrokerStarted: (started) => brokers.push(started),
    onCycle: (cycle, ms) => console.log(`soak: crash ${cycle}/${cycles} survived, all 40 clients back and resubscribed in ${ms} ms`),
  });
  done = true;
  await Promise.all(churners);
  clearInterval(monitor);

  const { report } = result;
  const summary = {
    seconds: Math.round((Date.now() - startedAt) / 1000),
    clients: STABLE_PUBLISHERS + STABLE_SUBSCRIBERS + CHURNING_CLIENTS,
    churnSessions: churnCounts.sessions,
    churnSessionsCutByCrashes: churnCounts.failures,
    crashCyclesSurvived: result.cycles,
    reconnectP50Ms: result.p50Ms,
    reconnectMaxMs: result.maxMs,
    brokerPeakRssMiB: Number((peakRss / MiB).toFixed(1)),
    ...report,
  };
  mkdirSync('test-results', { recursive: true });
  writeFileSync('test-results/soak.json', `${JSON.stringify(summary, null, 2)}\n`);
  console.log(
    [
      `soak summary (${summary.seconds} s, ${summary.clients} clients):`,
      `  sequenced messages published: ${report.published}, deliveries expected: ${report.published * STABLE_SUBSCRIBERS}, delivered: ${report.delivered}`,
      `  missing but reported: ${report.missingUnconfirmed} unconfirmed by the dead broker, ${report.missingWhileAway} published while the subscriber was away, ${report.missingDroppedByBroker} dropped by the broker`,
      `  lost without report: ${report.lostUnreported}; duplicates or out of order: ${report.duplicatesOrReordered}`,
      `  crash cycles survived: ${result.cycles}; reconnect p50 ${result.p50Ms} ms, max ${result.maxMs} ms`,
      `  churn: ${churnCounts.sessions} client sessions completed, ${churnCounts.failures} cut short by a crash`,
      `  broker peak RSS: ${summary.brokerPeakRssMiB} MiB`,
    ].join('\n'),
  );
  expect(report.lostUnreported).toBe(0);
  expect(report.duplicatesOrReordered).toBe(0);
  expect(result.cycles).toBe(cycles);
});
