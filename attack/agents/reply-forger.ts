import { emit, runAgent, task } from './agent-io.js';
import { RawConnection } from './wire.js';

/**
 * Alice learns the broker's reply-address prefix from a request of her
 * own, then answers other connections' pending requests by guessing
 * `<boot>.<connection>.<request>` around her own connection id.
 */
interface ForgerTask {
  path: string;
  /** A topic alice may publish and subscribe to. */
  ownTopic: string;
  connectionsBelow: number;
  connectionsAbove: number;
  maxRequestId: number;
  durationMs: number;
}

runAgent(async () => {
  const { path, ownTopic, connectionsBelow, connectionsAbove, maxRequestId, durationMs } = task<ForgerTask>();
  const connection = await RawConnection.open(path, { name: 'reply-forger' });
  connection.send([4, 1, ownTopic]);
  connection.send([7, 1]);
  await connection.waitFor((message) => message.kind === 8, 5000);
  connection.send([3, ownTopic, null, null, { request: 1 }]);
  const request = await connection.waitFor((message) => message.kind === 6 && message.info?.reply !== undefined, 5000);
  const address = request?.kind === 6 ? request.info?.reply : undefined;
  const match = address ? /^(.*)\.(\d+)\.(\d+)$/.exec(address) : null;
  if (!match) {
    emit('result', { learned: false, address: address ?? null });
    return;
  }
  const [, boot, ownId] = match;
  emit('learned', { address });
  const began = Date.now();
  let frames = 0;
  for (let round = 0; Date.now() - began < durationMs && !connection.closed; round++) {
    for (let id = Number(ownId) - connectionsBelow; id <= Number(ownId) + connectionsAbove; id++) {
      if (id < 1) continue;
      for (let requestId = 1; requestId <= maxRequestId; requestId++) {
        const forged = `${boot}.${id}.${requestId}`;
        // Alternate forged data and forged errors, round by round.
        connection.send(round % 2 === 0 ? [14, forged, { forged: true }, null, null] : [14, forged, null, null, { code: 'FORGED', message: 'forged by alice' }]);
        frames++;
      }
    }
    await connection.drained();
    // Answers to unknown connections come back as errors: read them, and let the broker breathe.
    connection.received.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  emit('result', { learned: true, address, frames });
  connection.destroy();
});
