import { emit, runAgent, task } from './agent-io.js';
import { Tally } from './tally.js';
import { RawConnection } from './wire.js';

/** Asks for stats in a loop from several connections, each asking again as soon as its answer is in. */
interface StatsLoopTask {
  path: string;
  connections: number;
  durationMs: number;
}

runAgent(async () => {
  const { path, connections: count, durationMs } = task<StatsLoopTask>();
  const connections = await Promise.all(Array.from({ length: count }, () => RawConnection.open(path, { name: 'stats-loop' })));
  const errors = new Tally();
  let answers = 0;
  let last: Record<string, unknown> | null = null;
  const began = Date.now();
  await Promise.all(
    connections.map(async (connection) => {
      for (let token = 1; !connection.closed && Date.now() - began < durationMs; token++) {
        connection.send([12, token]);
        const answer = await connection.waitFor((message) => message.kind === 13 && message.token === token, 10_000);
        const received = connection.take();
        errors.addErrors(received);
        if (answer?.kind !== 13) continue;
        answers++;
        const { clientsTotal, clientsTruncated, clients } = answer.stats;
        last = { clientsTotal, clientsTruncated, clientsListed: clients?.length };
      }
    }),
  );
  const seconds = (Date.now() - began) / 1000;
  emit('result', { answers, answersPerSecond: Math.round((answers / seconds) * 10) / 10, last, errors: errors.toJSON(), closed: connections.filter((connection) => connection.closed).length });
  for (const connection of connections) connection.destroy();
});
