import { pack } from 'msgpackr';
import { emit, runAgent, sleep, task } from './agent-io.js';
import { frameOfBody, RawConnection } from './wire.js';

/**
 * A well-behaved client on a slow link: one large publish written in
 * small chunks, each sent as soon as the socket takes it, spaced so the
 * whole frame takes longer than the broker's frame timeout.
 */
interface SlowTask {
  path: string;
  topic: string;
  payloadBytes: number;
  chunkBytes: number;
  spacingMs: number;
}

runAgent(async () => {
  const { path, topic, payloadBytes, chunkBytes, spacingMs } = task<SlowTask>();
  const connection = await RawConnection.open(path, { name: 'slow-writer' });
  const frame = frameOfBody(pack([3, topic, Buffer.alloc(payloadBytes, 7)]));
  const began = Date.now();
  for (let offset = 0; offset < frame.length && !connection.closed; offset += chunkBytes) {
    connection.sendBytes(frame.subarray(offset, offset + chunkBytes));
    await connection.drained();
    await sleep(spacingMs);
  }
  const writtenMs = Date.now() - began;
  connection.send([7, 99]);
  const answer = await connection.waitFor((message) => message.kind === 8 || message.kind === 9, 5000);
  emit('result', {
    frameBytes: frame.length,
    writtenMs,
    confirmed: answer?.kind === 8,
    error: answer?.kind === 9 ? `${answer.code}: ${answer.message}` : null,
    closed: connection.closed,
  });
  connection.destroy();
});
