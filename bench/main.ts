import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderChart, renderTable, type BenchReport, type SystemResults } from './report.js';
import { measureMemory, runScenario, type RunResult, type Scenario } from './scenarios.js';
import { SERVERS } from './servers.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, scenarios: { type: 'string' }, unbounded: { type: 'boolean' } } });
const quick = values.quick ?? false;
/**
 * Publishers are flow-controlled as applications are (issue 16): every
 * FLOW_BYTES of payload they start a flush and wait for the one before, so
 * at most about 2 MiB are unconfirmed. --unbounded is the fire-hose of
 * earlier runs, where only the client's own buffer limit holds them back.
 */
const unbounded = values.unbounded ?? false;
const FLOW_BYTES = 1024 * 1024;
const flowBytes = unbounded ? 0 : FLOW_BYTES;
const runs = quick ? 1 : 3;
// Quick mode is a smoke run for CI: small counts, and only the ends of the routing range.
const scale = quick ? 0.05 : 1;
const n = (full: number) => Math.max(100, Math.round(full * scale));

/**
 * The scenarios of the issue, 100-byte payloads unless noted. Counts are
 * large enough for windows of about two seconds: in shorter ones a Node
 * process's warm-up (its JIT at work) and the 10 ms ticks of the CPU
 * figures weigh more than the steady state (sockbus (a) read 485,000
 * msgs/s at 200,000 messages and 700,000 at a million, on the same code).
 */
const ALL_SCENARIOS: Scenario[] = [
  { id: 'a', title: '1 → 1 throughput (msgs/s)', publishers: 1, subscribers: 1, count: n(1_000_000), size: 100 },
  { id: 'b', title: '1 → 10 fan-out (deliveries/s)', publishers: 1, subscribers: 10, count: n(200_000), size: 100 },
  { id: 'c', title: '10 → 1 fan-in (msgs/s)', publishers: 10, subscribers: 1, count: n(100_000), size: 100 },
  { id: 'd', title: 'latency at 5,000 msgs/s (µs)', publishers: 1, subscribers: 1, count: quick ? 1000 : 25_000, size: 100, ratePerSecond: 5000 },
  { id: 'e', title: '4 KiB 1 → 1 (msgs/s)', publishers: 1, subscribers: 1, count: n(200_000), size: 4096 },
  { id: 'f10', title: '1 → 1 with 10 unrelated subscriptions', publishers: 1, subscribers: 1, count: n(1_000_000), size: 100, unrelatedSubscriptions: 10 },
  ...(quick ? [] : [{ id: 'f1000', title: '1 → 1 with 1,000 unrelated subscriptions', publishers: 1, subscribers: 1, count: n(1_000_000), size: 100, unrelatedSubscriptions: 1000 }]),
  { id: 'f10000', title: '1 → 1 with 10,000 unrelated subscriptions', publishers: 1, subscribers: 1, count: n(1_000_000), size: 100, unrelatedSubscriptions: 10_000 },
];
/** `--scenarios a,e` (and `g` for memory) runs just those, for profiling one path, into results/partial.*. */
const chosen = values.scenarios?.split(',');
const SCENARIOS = ALL_SCENARIOS.filter((scenario) => !chosen || chosen.includes(scenario.id));
const MEMORY_CONNECTIONS = quick ? 50 : 1000;

function median(results: RunResult[]): RunResult {
  const sorted = [...results].sort((a, b) => a.perSecond - b.perSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const format = (value: number) => Math.round(value).toLocaleString('en-US');

async function main(): Promise<void> {
  const report: BenchReport = {
    date: new Date().toISOString(),
    quick,
    mode: unbounded ? 'unbounded' : 'flow-controlled',
    flowBytes,
    runsPerFigure: runs,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
    versions: {},
    skipped: {},
    scenarios: SCENARIOS.map(({ id, title }) => ({ id, title })),
    results: {},
  };
  const only = values.only?.split(',');
  console.log(unbounded ? 'Publishers unbounded (--unbounded): no flow control.' : `Publishers flow-controlled: a flush every ${FLOW_BYTES / 1024} KiB of payload, waiting for the previous one.`);
  for (const server of SERVERS.filter((candidate) => !only || only.includes(candidate.system))) {
    const reason = server.unavailable();
    if (reason) {
      report.skipped[server.system] = reason;
      const install = server.system === 'sockbus-c' ? '' : '; install with: apt-get install -y redis-server mosquitto nats-server';
      console.log(`${server.system}: skipped (${reason}${install})`);
      continue;
    }
    report.versions[server.system] = server.version();
    const results: SystemResults = { scenarios: {}, memory: null, errors: {} };
    report.results[server.system] = results;
    for (const scenario of SCENARIOS) {
      // The raw relay has no subscriptions, so routing cost means nothing for it.
      if (server.system === 'raw' && scenario.unrelatedSubscriptions) continue;
      // The C clients' routing runs only when asked for (--scenarios f10): the broker's routing is the sockbus row's, and the full run must fit its slot.
      if (server.system === 'sockbus-c' && scenario.unrelatedSubscriptions && !chosen) continue;
      const attempts: RunResult[] = [];
      try {
        for (let run = 1; run <= runs; run++) {
          const result = await runScenario(server, scenario, flowBytes);
          attempts.push(result);
          const latency = result.latencyMicros ? `, latency p50 ${result.latencyMicros.p50} µs p99 ${result.latencyMicros.p99} µs` : '';
          const cpu = result.cpuPercent;
          console.log(
            `[${scenario.id}] ${server.system} run ${run}/${runs}: ${format(result.perSecond)}/s, lost ${result.lost}, server CPU ${result.serverCpuMicrosPerDelivery.toFixed(2)} µs per delivery, ` +
              `CPU % publishers ${cpu.publishers} / broker ${cpu.broker} / subscribers ${cpu.subscribers} (others ${cpu.others})${latency}`,
          );
        }
        results.scenarios[scenario.id] = median(attempts);
      } catch (error) {
        results.errors[scenario.id] = (error as Error).message;
        console.log(`[${scenario.id}] ${server.system}: failed: ${(error as Error).message}`);
      }
    }
    // The C clients drive the same broker: its memory is measured in the sockbus row.
    if ((chosen && !chosen.includes('g')) || server.system === 'sockbus-c') continue;
    try {
      results.memory = await measureMemory(server, MEMORY_CONNECTIONS, 5);
      const memory = results.memory;
      console.log(`[g] ${server.system}: idle ${(memory.idleBytes / 2 ** 20).toFixed(1)} MiB, with ${MEMORY_CONNECTIONS} clients ${(memory.loadedBytes / 2 ** 20).toFixed(1)} MiB (${(memory.perConnectionBytes / 1024).toFixed(1)} KiB each), after they left ${(memory.afterBytes / 2 ** 20).toFixed(1)} MiB`);
    } catch (error) {
      results.errors['g'] = (error as Error).message;
      console.log(`[g] ${server.system}: failed: ${(error as Error).message}`);
    }
  }

  const table = renderTable(report);
  const directory = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(directory, { recursive: true });
  // Only a full flow-controlled run replaces the recorded one.
  const name = quick ? 'quick' : chosen || only ? 'partial' : unbounded ? 'unbounded' : 'latest';
  writeFileSync(`${directory}${name}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${directory}${name}.md`, table);
  writeFileSync(`${directory}${name}.svg`, renderChart(report));
  console.log(`\n${table}\nwritten: bench/results/${name}.json, ${name}.md, ${name}.svg`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
