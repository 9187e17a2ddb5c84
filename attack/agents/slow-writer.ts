import { pack } from 'msgpackr';
import { emit, runAgent, sleep, task } from './agent-io.js';
import { frameOfBody, RawConnection } from './wire.js';

/**
 * A well-behaved client writing through a small buffer (like bufio): a
 * stream of publishes sent in fixed-size chunks, so frames straddle chunk
 * boundaries and the broker's decoder is almost never empty. Each frame
 * completes quickly; the whole stream takes longer than the frame timeout.
 */
interface SlowTask {
  path: string;
  topic: string;
  frameCount: number;
  payloadBytes: number;
  chunkBytes: number;
  spacingMs: number;
}

runAgent(async () => {
  const { path, topic, frameCount, payloadBytes, chunkBytes, spacingMs } = task<SlowTask>();
  const connection = await RawConnection.open(path, { name: 'slow-writer' });
  const frame = Buffer.concat(Array.from({ length: frameCount }, (_, index) => frameOfBody(pack([3, topic, Buffer.alloc(payloadBytes, index)]))));
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
