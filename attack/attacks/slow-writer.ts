import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { CAROL } from '../users.js';

const FRAME_TIMEOUT_MS = 1000;
const FRAMES = 100;

/** Issue 11, 11: a slow but steady writer is not a slowloris; the frame timeout must tell them apart. */
export const slowWriter: Attack = {
  name: 'slow-writer',
  title: `carol writes 100 publishes of 20 KB through an 8 KiB buffer, a chunk every 16 ms (about 4 s), to a broker with --frame-timeout ${FRAME_TIMEOUT_MS}`,
  broker: () => ['--frame-timeout', String(FRAME_TIMEOUT_MS)],
  async run(context) {
    const path = context.broker!.socketPath;
    const subscriber = context.agent(CAROL, 'counting-subscriber', { path, pattern: 'slow.big' });
    if (!(await subscriber.nextEvent('ready', 10_000))) return verdictOf([`carol's subscriber did not start: ${failureOf(subscriber)}`], {});
    const writer = context.agent(CAROL, 'slow-writer', { path, topic: 'slow.big', frameCount: FRAMES, payloadBytes: 20_000, chunkBytes: 8192, spacingMs: 16 });
    const written = await writer.nextEvent('result', 30_000);
    subscriber.command('report');
    const received = await subscriber.nextEvent('result', 5000);
    const failures: string[] = [];
    if (!written) failures.push(`the writer did not report: ${failureOf(writer)}`);
    else if (!written['confirmed']) failures.push(`the broker cut the slow writer after ${written['writtenMs']} ms: ${written['error'] ?? 'closed'}`);
    else if (Number(received?.['received'] ?? 0) !== FRAMES) failures.push(`the publishes were confirmed but ${String(received?.['received'] ?? 0)} of ${FRAMES} delivered`);
    return verdictOf(failures, { written, received });
  },
};
