import { emit, runAgent, sleep, task } from './agent-io.js';
import { Tally } from './tally.js';
import { frameOf, RawConnection } from './wire.js';

/**
 * Publishes in rounds for a while: a window of publishes, then a ping
 * whose pong says the broker processed them all (so what is in flight is
 * bounded and the count is what the broker took), then a pause. Reports
 * publishes sent, the error answers by code, and whether the connection
 * still answered at the end.
 */
interface LoopTask {
  path: string;
  topic: string;
  /** Each publish goes to `TOPIC.N`, N counting up, so no topic is seen twice. */
  uniqueTopics?: boolean;
  /** The data: a bin of this many bytes (default: a small number). */
  payloadBytes?: number;
  /** Headers of this many entries on every publish. */
  headerEntries?: number;
  retain?: boolean;
  window: number;
  pauseMs?: number;
  durationMs: number;
  /** Stop after this many publishes even if time is left. */
  maxCount?: number;
  name?: string;
}

runAgent(async () => {
  const { path, topic, uniqueTopics = false, payloadBytes, headerEntries, retain, window, pauseMs = 0, durationMs, maxCount = Infinity, name } = task<LoopTask>();
  const connection = await RawConnection.open(path, { name: name ?? 'publish-loop', keepDeliveries: false });
  const data = payloadBytes === undefined ? 1 : Buffer.alloc(payloadBytes, 0x61);
  // A Map: msgpackr packs plain objects of more than 65,535 keys only with an option.
  const headers = headerEntries ? new Map(Array.from({ length: headerEntries }, (_, index) => [`h${index}`, 'v'])) : null;
  const options = retain ? { retain: true } : null;
  // The same bytes every time unless topics differ: the cost measured is the broker's, not the encoder's.
  const fixed = uniqueTopics ? null : frameOf([3, topic, data, headers, options]);
  const errors = new Tally();
  let published = 0;
  let rounds = 0;
  let unanswered = 0;
  const began = Date.now();
  while (!connection.closed && Date.now() - began < durationMs && published < maxCount) {
    const frames: Buffer[] = [];
    for (let index = 0; index < window && published < maxCount; index++, published++) {
      frames.push(fixed ?? frameOf([3, `${topic}.${published}`, data, headers, options]));
    }
    connection.sendBytes(Buffer.concat(frames));
    if (!(await connection.ping(++rounds))) unanswered++;
    errors.addErrors(connection.take());
    if (pauseMs > 0) await sleep(pauseMs);
  }
  const usable = !connection.closed && (await connection.ping(++rounds));
  errors.addErrors(connection.take());
  emit('result', { published, rounds, unanswered, errors: errors.toJSON(), usable, closed: connection.closed, closeError: connection.closeError, ms: Date.now() - began });
  connection.destroy();
});
