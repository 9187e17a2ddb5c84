import { join } from 'node:path';
import type { Attack, AttackContext, Bars, Verdict } from './attack.js';
import { RunningBroker, type BrokerLaunch } from './broker.js';
import { WellBehavedPair, type PairResult } from './pair.js';
import { killStarted, makeTempDir } from './processes.js';
import type { Row } from './report.js';
import { nodeAs } from './users.js';

export interface RunnerOptions {
  quick: boolean;
  /** The readable copy of the built project. */
  copy: string;
}

/** The broker's own checks for every attack: it stays up, and the pair lost nothing and was answered. */
function commonFailures(brokers: RunningBroker[], pairs: PairResult[]): string[] {
  const failures: string[] = [];
  for (const broker of brokers) {
    if (broker.started && !broker.alive && !broker.stoppedOnPurpose) {
      failures.push(`broker died (exit ${broker.child.exitCode ?? broker.child.signal}: ${deathReason(broker.log)})`);
    }
  }
  for (const pair of pairs) {
    if (pair.failure) failures.push(`pair: ${pair.failure}`);
    if (pair.lost > 0) failures.push(`pair lost ${pair.lost} of ${pair.sent}`);
    if (pair.duplicates > 0 || pair.reordered > 0) failures.push(`pair got ${pair.duplicates} duplicates, ${pair.reordered} out of order`);
    if (pair.pingsUnanswered > 0) failures.push(`${pair.pingsUnanswered} pair pings unanswered`);
  }
  return failures;
}

/**
 * The row's own bars on what the runner measured: memory, and the pair's
 * latency. Latency is judged in full runs only: the quick run is CI's,
 * and a time is not a pass/fail condition on a loaded 2-core machine
 * (it is still reported).
 */
function barFailures(bars: Bars, peakRssMiB: number | null, pairs: PairResult[], judgeLatency: boolean): string[] {
  const failures: string[] = [];
  if (bars.peakRssMiB !== undefined && peakRssMiB !== null && peakRssMiB >= bars.peakRssMiB) {
    failures.push(`broker peak RSS ${peakRssMiB} MiB, not under ${bars.peakRssMiB} MiB`);
  }
  for (const pair of pairs) {
    if (judgeLatency && bars.pingP99Ms !== undefined && pair.p99 !== null && pair.p99 >= bars.pingP99Ms) {
      failures.push(`carol's ping p99 ${pair.p99} ms, not under ${bars.pingP99Ms} ms`);
    }
  }
  return failures;
}

/**
 * Runs one attack: its broker and carol's pair (or lets it start its own),
 * then the attack, then measures, and stops every process it started.
 */
export async function runAttack(attack: Attack, options: RunnerOptions): Promise<Row> {
  const began = Date.now();
  const brokers: RunningBroker[] = [];
  const pairs: WellBehavedPair[] = [];
  const notes: string[] = [];
  const figures: Record<string, string | number> = {};
  const context: AttackContext = {
    quick: options.quick,
    broker: null,
    directory: makeTempDir(0o755),
    copy: options.copy,
    tempDir: (mode) => makeTempDir(mode),
    async startBroker(launch: BrokerLaunch) {
      const broker = await RunningBroker.start(launch);
      brokers.push(broker);
      return broker;
    },
    async startPair(socketPath: string) {
      const pair = await WellBehavedPair.start(options.copy, socketPath);
      pairs.push(pair);
      return pair;
    },
    nodeAs: (user, script, args, spawnOptions) => nodeAs(user, options.copy, script, args, spawnOptions),
    agent: (user, name, agentTask, spawnOptions) => nodeAs(user, options.copy, `attack/agents/${name}.js`, [JSON.stringify(agentTask)], spawnOptions),
    cli: (user, args, spawnOptions) => {
      const child = nodeAs(user, options.copy, 'cli/main.js', args, spawnOptions);
      child.process.stdin?.end();
      return child;
    },
    note: (text) => notes.push(text),
    figure: (label, value) => (figures[label] = value),
  };

  let verdict: Verdict;
  try {
    verdict = await runWithin(attack, context, options);
  } catch (error) {
    verdict = { held: false, reason: `attack failed to run: ${(error as Error).message}`, details: { stack: (error as Error).stack } };
  }
  const pairResults = await Promise.all(pairs.map((pair) => pair.finish()));
  const brokerAlive = brokers.some((broker) => broker.started) ? brokers.every((broker) => !broker.started || broker.alive || broker.stoppedOnPurpose) : null;
  // Judged before stopping: a broker stopped on purpose no longer counts as dead.
  const common = commonFailures(brokers, pairResults);
  for (const broker of brokers) await broker.stop();
  const peaks = brokers.map((broker) => broker.rss.peakMiB).filter((peak): peak is number => peak !== null);
  const peakRssMiB = peaks.length ? Math.max(...peaks) : null;
  if (!('skipped' in verdict)) {
    const failures = [...common, ...barFailures(attack.bars ?? {}, peakRssMiB, pairResults, !options.quick)];
    if (failures.length > 0) {
      const reason = verdict.held ? failures.join('; ') : [verdict.reason, ...failures].join('; ');
      verdict = { held: false, reason, details: verdict.details };
    }
  }
  await killStarted();
  try {
    attack.cleanup?.();
  } catch (error) {
    notes.push(`cleanup failed: ${(error as Error).message}`);
  }
  const pair = pairResults[0] ?? null;
  return {
    name: attack.name,
    title: attack.title,
    verdict,
    brokerAlive,
    peakRssMiB,
    pair,
    notes,
    figures,
    seconds: Math.round((Date.now() - began) / 100) / 10,
  };
}

async function runWithin(attack: Attack, context: AttackContext, options: RunnerOptions): Promise<Verdict> {
  if (attack.broker) {
    const socketPath = join(makeTempDir(0o755), 'bus.sock');
    const broker = await context.startBroker({ socketPath, args: attack.broker(context.directory) });
    if (!broker.started) {
      return { held: false, reason: `broker did not start with this attack's options: ${broker.firstLogLine || broker.outcome}`, details: { log: broker.log } };
    }
    context.broker = broker;
    await context.startPair(socketPath);
  }
  const limitMs = options.quick ? 40_000 : 90_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve({ held: false, reason: `the attack did not finish within ${limitMs / 1000} s`, details: {} }), limitMs);
  });
  try {
    return await Promise.race([attack.run(context), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The line of a dead broker's log that says why: the uncaught error, else its last words. */
function deathReason(log: string): string {
  const lines = log.split('\n').map((line) => line.trim()).filter(Boolean);
  const error = lines.find((line) => /^(\w*Error|sockbusd: error)\b/.test(line));
  return (error ?? lines.filter((line) => !line.startsWith('Node.js')).slice(-1)[0] ?? 'no log').slice(0, 160);
}
