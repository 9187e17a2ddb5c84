import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, LATENCY_BAR, loadPhaseMs, measured, refusalCounts } from '../exhaustion.js';
import { ALICE } from '../users.js';

const RETAINED = 10_000;
/** Wildcard patterns that each match one of alice's retained topics `alice.r.N`: a replay must not scan the other 9,999. */
function fewMatching(count: number): string[] {
  const shapes = [(n: number) => `alice.*.${n}`, (n: number) => `*.r.${n}`, (n: number) => `*.*.${n}`];
  return Array.from({ length: count }, (_, index) => shapes[index % shapes.length]!((index * 7919) % RETAINED));
}

/** Issue 12, 6: every subscribe replays what its pattern matches; with many retained values that lookup must not scan them all. */
export const retainedChurn: Attack = {
  name: 'retained-churn',
  title: `alice retains ${RETAINED.toLocaleString('en-US')} values on her own topics, then subscribes and unsubscribes wildcard patterns matching one each, in a loop for 5 s (quick: 2 s)`,
  broker: () => [],
  bars: LATENCY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const durationMs = loadPhaseMs(context);
    const failures: string[] = [];
    const retainer = context.agent(ALICE, 'publish-loop', { path, topic: 'alice.r', uniqueTopics: true, retain: true, payloadBytes: 16, window: 500, maxCount: RETAINED, durationMs: 30_000 });
    const retained = await expectEvent(retainer, 'result', 40_000, "alice's retainer", failures);
    if (retained && Object.keys(retained['errors'] as object).length > 0) failures.push(`alice's retains were refused: ${refusalCounts(retained['errors'])}`);
    const { result: churn, usage } = await measured(context, () => {
      const churner = context.agent(ALICE, 'subscribe-churn', { path, patterns: fewMatching(300), durationMs, window: 100 });
      return expectEvent(churner, 'result', durationMs + 20_000, "alice's churn", failures);
    });
    const cycles = Number(churn?.['cycles'] ?? 0);
    if (churn && Number(churn['replayed']) < cycles) failures.push(`${String(churn['replayed'])} retained values replayed for ${cycles} subscribes that each match one`);
    context.figure('retained', String(retained?.['published'] ?? 0));
    context.figure('subscribe/unsubscribe cycles', cycles);
    context.figure('CPU per cycle ms', usage && cycles ? (usage.cpuMs / cycles).toFixed(4) : 'n/a');
    return verdictOf(failures, { retained, churn, usage });
  },
};
