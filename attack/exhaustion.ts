import type { BrokerStats, UserEntry } from '../protocol/index.js';
import type { AttackContext, Bars } from './attack.js';
import { failureOf, type AgentEvent, type Child } from './processes.js';
import { UsageMeter, type Usage } from './proc-usage.js';
import { CAROL, user } from './users.js';

/** Issue 12's bar for every resource row: the broker's peak RSS stays under 512 MiB. */
export const MEMORY_BAR: Bars = { peakRssMiB: 512 };
/** The rows that load the broker's CPU also hold carol's pings to this. */
export const LATENCY_BAR: Bars = { ...MEMORY_BAR, pingP99Ms: 50 };

/** How long the CPU rows keep up their load: long enough for the pair's percentiles, short enough for the run's budget. */
export const loadPhaseMs = (context: AttackContext): number => (context.quick ? 2000 : 5000);

/** An agent's event, or null with why in `failures`. */
export async function expectEvent(child: Child, event: string, timeoutMs: number, what: string, failures: string[]): Promise<AgentEvent | null> {
  const found = await child.nextEvent(event, timeoutMs);
  if (!found) failures.push(`${what} did not report: ${failureOf(child)}`);
  return found;
}

/** One user's row of stats.users (by uid: the row's name may be only `uid N`), as root sees it. */
export function userRow(stats: BrokerStats | null, name: string): UserEntry | null {
  const uid = user(name).uid;
  return stats?.users?.find((row) => row.uid === uid) ?? null;
}

/** Measures the broker's CPU (and disk writes) over `phase`, and records them as the row's figures. */
export async function measured<T>(context: AttackContext, phase: () => Promise<T>): Promise<{ result: T; usage: Usage | null }> {
  const meter = UsageMeter.start(context.broker!.pid);
  const result = await phase();
  const usage = meter.stop();
  if (usage) context.figure('broker CPU', `${(usage.cpuMs / 1000).toFixed(2)} s in ${(usage.wallMs / 1000).toFixed(1)} s (${usage.cpuPercent} %)`);
  return { result, usage };
}

/** How a refusal tally reads in a figure: `CODE ×N`. */
export function refusalCounts(refusals: unknown): string {
  const entries = Object.entries((refusals ?? {}) as Record<string, { count: number }>);
  return entries.length ? entries.map(([code, { count }]) => `${code} ×${count}`).join(', ') : 'none';
}

/** The sample message of one refusal code in a tally, or null. */
export function refusalText(refusals: unknown, code: string): string | null {
  return ((refusals ?? {}) as Record<string, { sample: string }>)[code]?.sample ?? null;
}

/** What carol runs to see the broker: each must exit 0 with output while the attack goes on. */
const CAROLS_TOOLS = [['stats'], ['clients'], ['monitor', '--count', '2', '--interval', '200']];

/** Runs carol's sockbus stats, clients and monitor side by side; what went wrong with each, and how long each took. */
export async function carolsToolsFail(context: AttackContext, path: string): Promise<{ failures: string[]; ms: Record<string, number> }> {
  const failures: string[] = [];
  const ms: Record<string, number> = {};
  await Promise.all(
    CAROLS_TOOLS.map(async (args) => {
      const began = Date.now();
      const child = context.cli(CAROL, [...args, '--socket', path]);
      const exited = await child.waitForExit(15_000);
      ms[args[0]!] = Date.now() - began;
      if (!exited) failures.push(`carol's sockbus ${args[0]} did not finish within 15 s`);
      else if (child.exitCode !== 0 || child.stdout.trim() === '') failures.push(`carol's sockbus ${args[0]} failed (exit ${child.exitCode}): ${child.stderr.trim().slice(0, 200)}`);
    }),
  );
  return { failures, ms };
}
