import { verdictOf, type Attack } from '../attack.js';
import { carolsToolsFail, expectEvent, LATENCY_BAR, loadPhaseMs, measured, refusalCounts } from '../exhaustion.js';
import { ALICE } from '../users.js';

const ASKERS = 4;

/** Issue 12, 8: a stats answer costs work per connection; asking in a loop beside thousands of connections must not take the broker from carol. */
export const statsLoop: Attack = {
  name: 'stats-loop',
  title: `alice holds 3,000 idle connections (quick: 1,000) and asks for stats in a loop from ${ASKERS} more for 5 s (quick: 2 s); carol runs sockbus stats, clients and monitor meanwhile`,
  broker: () => [],
  bars: LATENCY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const idle = context.quick ? 1000 : 3000;
    const durationMs = loadPhaseMs(context);
    const failures: string[] = [];
    const holder = context.agent(ALICE, 'connection-holder', { path, count: idle });
    const opened = await expectEvent(holder, 'opened', 60_000, "alice's idle connections", failures);
    if (opened && opened['welcomed'] !== idle) failures.push(`only ${String(opened['welcomed'])} of alice's ${idle} idle connections got in: ${refusalCounts(opened['refusals'])}`);
    const { result: asked, usage } = await measured(context, async () => {
      const asker = context.agent(ALICE, 'stats-loop', { path, connections: ASKERS, durationMs });
      const tools = await carolsToolsFail(context, path);
      failures.push(...tools.failures);
      context.figure("carol's tools", Object.entries(tools.ms).map(([tool, ms]) => `${tool} ${ms} ms`).join(', '));
      return expectEvent(asker, 'result', durationMs + 20_000, "alice's stats loop", failures);
    });
    holder.command('close');
    const answers = Number(asked?.['answers'] ?? 0);
    context.figure('stats answers/s', String(asked?.['answersPerSecond'] ?? 'n/a'));
    // An upper bound: the CPU of carol's pair and tools is in it too.
    context.figure('CPU per answer ms', usage && answers ? (usage.cpuMs / answers).toFixed(1) : 'n/a');
    context.figure('last answer', JSON.stringify(asked?.['last'] ?? null));
    return verdictOf(failures, { opened, asked, usage });
  },
};
