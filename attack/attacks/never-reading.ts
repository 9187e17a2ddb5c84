import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, measured, MEMORY_BAR, userRow } from '../exhaustion.js';
import { ALICE, CAROL, user } from '../users.js';

const TOPIC = 'flood.data';

/** Issue 12, 1: subscribers that never read make the broker buffer for them; only their user's share may fill. */
export const neverReading: Attack = {
  name: 'never-reading',
  title: 'alice opens 500 subscribers (quick: 200) that never read, and one publisher floods them with 4 KiB messages for 8 s (quick: 3 s)',
  broker: () => [],
  bars: MEMORY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const subscribers = context.quick ? 200 : 500;
    const durationMs = context.quick ? 3000 : 8000;
    const failures: string[] = [];
    const holder = context.agent(ALICE, 'connection-holder', { path, count: subscribers, pattern: TOPIC, read: false });
    const opened = await expectEvent(holder, 'opened', 30_000, "alice's subscribers", failures);
    if (!opened) return verdictOf(failures, {});
    if (opened['welcomed'] !== subscribers) failures.push(`only ${String(opened['welcomed'])} of alice's ${subscribers} subscribers got in: ${JSON.stringify(opened['refusals'])}`);
    const { result: flood } = await measured(context, () => {
      const flooder = context.agent(ALICE, 'publish-loop', { path, topic: TOPIC, payloadBytes: 4096, window: 100, durationMs });
      return expectEvent(flooder, 'result', durationMs + 20_000, "alice's publisher", failures);
    });
    const stats = await context.broker!.stats();
    const alice = userRow(stats, ALICE);
    const carol = userRow(stats, CAROL);
    const uid = user(ALICE).uid;
    const warnings = context.broker!.log.split('\n').filter((line) => line.includes('is at its memory share') && line.includes(`(uid ${uid})`));
    if (!alice) failures.push('stats.users has no row for alice');
    else if (Number(alice['dropped']) === 0) failures.push("alice's dropped did not grow: her share never filled, or drops are not counted to her");
    if (carol && Number(carol['dropped']) > 0) failures.push(`carol's dropped grew to ${carol['dropped']}`);
    if (warnings.length !== 1) failures.push(`the broker logged alice's memory share ${warnings.length} times, not once`);
    context.figure('published', String(flood?.['published'] ?? 'n/a'));
    context.figure('alice dropped', String(alice?.['dropped'] ?? 'n/a'));
    context.figure('alice memory MiB', alice ? (Number(alice['memoryBytes']) / 2 ** 20).toFixed(1) : 'n/a');
    context.figure('carol dropped', String(carol?.['dropped'] ?? 0));
    context.figure('warn lines', warnings.length);
    return verdictOf(failures, { opened, flood, alice, carol, warning: warnings[0] ?? null });
  },
};
