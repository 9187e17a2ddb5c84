import { verdictOf, type Attack } from '../attack.js';
import { carolsToolsFail, expectEvent, MEMORY_BAR, refusalCounts, refusalText } from '../exhaustion.js';
import { ALICE, BOB } from '../users.js';

/** Small enough to fill in a few seconds, quick or not. */
const MAX_CONNECTIONS = 2000;

/** What each attacker must be refused with once it holds what it may. */
const EXPECTED: Record<string, RegExp> = {
  [ALICE]: /already has \d+ connections, the most the broker allows one user \(--max-connections-per-uid\)/,
  [BOB]: /the broker is near its limit of \d+ connections \(--max-connections\), and user \S+ \(uid \d+\) already holds \d+, more than its fair part/,
};

/** Issue 12, 5: two users taking every slot they may must leave a third user room to connect. */
export const connectionSlots: Attack = {
  name: 'connection-slots',
  title: `with --max-connections ${MAX_CONNECTIONS}, alice then bob open as many connections as they are let; then carol connects with sockbus stats, clients and monitor`,
  broker: () => ['--max-connections', String(MAX_CONNECTIONS)],
  bars: MEMORY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const failures: string[] = [];
    const outcomes: Record<string, unknown> = {};
    const holders = [];
    for (const attacker of [ALICE, BOB]) {
      const holder = context.agent(attacker, 'connection-holder', { path, count: MAX_CONNECTIONS });
      holders.push(holder);
      const opened = await expectEvent(holder, 'opened', 60_000, `${attacker}'s connections`, failures);
      outcomes[attacker] = opened;
      const said = refusalText(opened?.['refusals'], 'TOO_MANY_CONNECTIONS');
      if (opened && (!said || !EXPECTED[attacker]!.test(said))) failures.push(`${attacker} was not refused as expected: ${refusalCounts(opened['refusals'])}: ${said ?? ''}`);
      context.figure(attacker, `${String(opened?.['welcomed'] ?? 0)} held, ${refusalCounts(opened?.['refusals'])}`);
    }
    const tools = await carolsToolsFail(context, path);
    failures.push(...tools.failures);
    context.figure('carol', tools.failures.length ? 'refused' : `served (${Object.entries(tools.ms).map(([tool, ms]) => `${tool} ${ms} ms`).join(', ')})`);
    const stats = await context.broker!.stats();
    for (const holder of holders) holder.command('close');
    return verdictOf(failures, { ...outcomes, tools, connections: stats?.['connections'], connectionsRefused: stats?.['connectionsRefused'] });
  },
};
