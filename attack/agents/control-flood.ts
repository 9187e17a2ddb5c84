import { emit, runAgent, task } from './agent-io.js';
import { frameOf, RawConnection } from './wire.js';

/**
 * Sends hello, then floods frames the broker answers with control frames
 * (errors, no-responder replies, pongs), and never reads a byte: the
 * answers pile up in the broker unless it bounds them.
 */
interface FloodTask {
  path: string;
  durationMs: number;
}

runAgent(async () => {
  const { path, durationMs } = task<FloodTask>();
  const connection = await RawConnection.open(path, { name: 'control-flood', read: false });
  const began = Date.now();
  let closedAfterMs: number | null = null;
  connection.socket.once('close', () => (closedAfterMs = Date.now() - began));
  let frames = 0;
  let token = 1;
  const batch = () => {
    const parts: Buffer[] = [];
    for (let index = 0; index < 200; index++, token++) {
      parts.push(
        frameOf([3, 'a..b', 1]),
        frameOf([3, '$SYS.x', 1]),
        frameOf([4, token, 'a.>x']),
        frameOf([3, 'nobody.listens', null, null, { request: token }]),
        frameOf([7, token]),
      );
    }
    frames += parts.length;
    return Buffer.concat(parts);
  };
  while (!connection.closed && Date.now() - began < durationMs) {
    connection.sendBytes(batch());
    const remaining = durationMs - (Date.now() - began);
    await Promise.race([connection.drained(), new Promise((resolve) => setTimeout(resolve, Math.max(0, remaining)))]);
  }
  emit('result', { frames, closedByBroker: connection.closed, closedAfterMs, error: connection.closeError });
  connection.destroy();
});
