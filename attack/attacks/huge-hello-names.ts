import { verdictOf, type Attack } from '../attack.js';
import { carolsToolsFail, expectEvent, MEMORY_BAR, refusalCounts, refusalText } from '../exhaustion.js';
import { ALICE } from '../users.js';

/** A name past the 1 MiB frame limit, and one inside it but far past the 256-byte name limit. */
const CASES = [
  { label: '1 MiB names', nameBytes: 1024 * 1024, code: 'FRAME_TOO_LARGE', text: /./ },
  { label: '100 KB names', nameBytes: 100 * 1024, code: 'INVALID_MESSAGE', text: /hello: "name" is 102400 bytes, longer than the limit of 256 bytes/ },
];

/** Issue 12, 4: a hello name is kept for the connection's life and listed in every stats answer; it must be bounded. */
export const hugeHelloNames: Attack = {
  name: 'huge-hello-names',
  title: 'alice keeps 400 connections (quick: 100) at a time opening with 1 MiB hello names for 3 s (quick: 1.5 s), then with 100 KB names; carol runs sockbus stats, clients and monitor meanwhile',
  broker: () => [],
  bars: MEMORY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const count = context.quick ? 100 : 400;
    const failures: string[] = [];
    const outcomes: Record<string, unknown> = {};
    for (const { label, nameBytes, code, text } of CASES) {
      // Kept up for a while, `count` in flight at a time, so carol's tools run while it goes on.
      const opener = context.agent(ALICE, 'connection-holder', { path, count, nameBytes, hold: false, concurrency: count, forMs: context.quick ? 1500 : 3000 });
      const tools = await carolsToolsFail(context, path);
      const opened = await expectEvent(opener, 'opened', 60_000, `alice's ${label}`, failures);
      for (const failure of tools.failures) failures.push(`${label}: ${failure}`);
      if (opened && Number(opened['welcomed']) > 0) failures.push(`${label}: ${String(opened['welcomed'])} of ${String(opened['attempts'])} were welcomed`);
      const said = refusalText(opened?.['refusals'], code);
      if (opened && (!said || !text.test(said))) failures.push(`${label}: not refused with ${code} (${refusalCounts(opened['refusals'])})`);
      context.figure(label, `${String(opened?.['attempts'] ?? 0)} tried, ${refusalCounts(opened?.['refusals'])}; carol's tools ${Object.entries(tools.ms).map(([tool, ms]) => `${tool} ${ms} ms`).join(', ')}`);
      outcomes[label] = { opened, tools };
    }
    return verdictOf(failures, outcomes);
  },
};
