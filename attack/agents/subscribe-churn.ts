import { emit, runAgent, task } from './agent-io.js';
import { Tally } from './tally.js';
import { RawConnection } from './wire.js';

/**
 * Subscribes and at once unsubscribes, over and over, cycling through its
 * patterns: each subscribe makes the broker look up the retained values
 * the pattern matches and replay them.
 */
interface ChurnTask {
  path: string;
  patterns: string[];
  durationMs: number;
  /** Subscribe/unsubscribe pairs before each ping. */
  window: number;
}

runAgent(async () => {
  const { path, patterns, durationMs, window } = task<ChurnTask>();
  const connection = await RawConnection.open(path, { name: 'subscribe-churn', keepDeliveries: false });
  const errors = new Tally();
  let cycles = 0;
  const began = Date.now();
  while (!connection.closed && Date.now() - began < durationMs) {
    for (let index = 0; index < window; index++, cycles++) {
      const id = cycles + 1;
      connection.send([4, id, patterns[cycles % patterns.length]]);
      connection.send([5, id]);
    }
    await connection.ping(cycles);
    errors.addErrors(connection.take());
  }
  emit('result', { cycles, replayed: connection.deliveries, errors: errors.toJSON(), closed: connection.closed, ms: Date.now() - began });
  connection.destroy();
});
