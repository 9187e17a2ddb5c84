import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, measured, MEMORY_BAR, refusalCounts, refusalText } from '../exhaustion.js';
import { ALICE } from '../users.js';

const ENTRIES = 80_000;
/**
 * The bar on the broker's CPU per refused publish: a frame of 80,000
 * entries is about 700 KB, and reading that many bytes costs a fraction
 * of a millisecond; walking every entry before refusing would cost more.
 */
const MAX_MS_PER_MESSAGE = 2;

/** Issue 12, 9: headers of 80,000 entries must be refused without the broker building them, and the connection kept. */
export const headerFlood: Attack = {
  name: 'header-flood',
  title: `alice publishes with headers of ${ENTRIES.toLocaleString('en-US')} entries in a loop for 4 s (quick: 2 s)`,
  broker: () => [],
  bars: MEMORY_BAR,
  async run(context) {
    const durationMs = context.quick ? 2000 : 4000;
    const failures: string[] = [];
    const { result: flood, usage } = await measured(context, () => {
      const publisher = context.agent(ALICE, 'publish-loop', { path: context.broker!.socketPath, topic: 'alice.headers', headerEntries: ENTRIES, window: 4, durationMs });
      return expectEvent(publisher, 'result', durationMs + 20_000, "alice's publisher", failures);
    });
    const published = Number(flood?.['published'] ?? 0);
    const said = refusalText(flood?.['errors'], 'HEADERS_TOO_LARGE');
    const refused = Number((flood?.['errors'] as Record<string, { count: number }> | undefined)?.['HEADERS_TOO_LARGE']?.count ?? 0);
    if (flood && refused !== published) failures.push(`${refused} of ${published} publishes refused with HEADERS_TOO_LARGE (${refusalCounts(flood['errors'])})`);
    if (said && !said.includes(`${ENTRIES} entries, more than the 64 a message may carry`)) failures.push(`the refusal does not say the limit: ${said}`);
    if (flood && !flood['usable']) failures.push(`alice's connection did not answer a ping after the loop (closed: ${String(flood['closed'])})`);
    const msPerMessage = usage && published ? usage.cpuMs / published : null;
    if (msPerMessage !== null && msPerMessage >= MAX_MS_PER_MESSAGE) failures.push(`each refused publish cost the broker ${msPerMessage.toFixed(2)} ms of CPU, not under ${MAX_MS_PER_MESSAGE} ms`);
    context.figure('published', published);
    context.figure('refused', refusalCounts(flood?.['errors']));
    context.figure('CPU per message ms', msPerMessage === null ? 'n/a' : msPerMessage.toFixed(3));
    return verdictOf(failures, { flood, usage });
  },
};
