import { emit, nextCommand, runAgent, task } from './agent-io.js';
import { patternsOf, type PatternSpec } from './patterns.js';
import { Tally } from './tally.js';
import { RawConnection } from './wire.js';

/**
 * Subscribes many patterns over several connections of one user, step by
 * step, and reports per step how many the broker took and how it refused
 * the rest; then keeps the subscriptions (reading and counting what they
 * are sent) until told to report.
 */
interface Step {
  label: string;
  spec: PatternSpec;
  /** Indexes of the connections that subscribe this step's patterns, each its own distinct set. */
  connections: number[];
  /** Stop a connection's step at its first refused window: the limit is found. */
  untilRefused?: boolean;
}

interface HolderTask {
  path: string;
  connections: number;
  steps: Step[];
}

/** Subscribes sent before each ping, so what is in flight stays bounded. */
const WINDOW = 250;

runAgent(async () => {
  const { path, connections: count, steps } = task<HolderTask>();
  const connections = await Promise.all(Array.from({ length: count }, () => RawConnection.open(path, { name: 'pattern-holder', keepDeliveries: false })));
  const nextIds = connections.map(() => 1);
  let token = 0;
  const outcomes: Record<string, unknown> = {};
  for (const step of steps) {
    const refusals = new Tally();
    let sent = 0;
    const began = Date.now();
    for (const index of step.connections) {
      const connection = connections[index]!;
      const patterns = patternsOf(step.spec, index);
      for (let start = 0; start < patterns.length && !connection.closed; start += WINDOW) {
        for (const pattern of patterns.slice(start, start + WINDOW)) connection.send([4, nextIds[index]!++, pattern]);
        sent += Math.min(WINDOW, patterns.length - start);
        await connection.ping(++token);
        const refused = refusals.addErrors(connection.take());
        if (step.untilRefused && refused > 0) break;
      }
    }
    outcomes[step.label] = { sent, accepted: sent - refusals.total, refusals: refusals.toJSON(), ms: Date.now() - began };
  }
  emit('subscribed', { steps: outcomes, closed: connections.filter((connection) => connection.closed).length });
  await nextCommand('report');
  emit('result', { deliveries: connections.reduce((sum, connection) => sum + connection.deliveries, 0) });
  for (const connection of connections) connection.destroy();
});
