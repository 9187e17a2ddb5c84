import net from 'node:net';
import { emit, runAgent, sleep, task } from './agent-io.js';
import { frameOf } from './wire.js';
import { FrameDecoder, decodeClientMessage } from '../../protocol/index.js';

/**
 * Bob's impostor: listens on a socket path and plays a broker well enough
 * for a client to go on talking, counting every connection and byte it gets.
 * - `answer`: welcomes, answers pings and stats requests;
 * - `silent`: welcomes, then never answers anything (a hung broker);
 * - `bad-frame`: welcomes, then sends a frame no broker sends (length 0).
 */
interface FakeTask {
  path: string;
  mode: 'answer' | 'silent' | 'bad-frame';
  /** Keep trying to bind until the path is free (to take it the moment a broker leaves). */
  waitForFree?: boolean;
  waitForFreeMs?: number;
}

runAgent(async () => {
  const { path, mode, waitForFree = false, waitForFreeMs = 30_000 } = task<FakeTask>();
  // Anyone may connect to the impostor, as to the real broker.
  process.umask(0);
  let accepted = 0;
  let bytes = 0;
  const server = net.createServer((socket) => {
    accepted++;
    emit('accepted', { total: accepted });
    let welcomed = false;
    const decoder = new FrameDecoder(64 * 1024 * 1024, (body) => {
      let message;
      try {
        message = decodeClientMessage(body);
      } catch {
        return;
      }
      if (message.kind === 1 && !welcomed) {
        welcomed = true;
        socket.write(frameOf([2, { version: 2, connectionId: accepted, server: 'sockbusd 0.2.0', maxFrameBytes: 1048576, maxBrokerFrameBytes: 1049600, maxTopicBytes: 256, maxPendingBytes: 8388608 }]));
        if (mode === 'bad-frame') socket.write(Buffer.alloc(4));
        return;
      }
      if (mode !== 'answer') return;
      if (message.kind === 7) socket.write(frameOf([8, message.token]));
      if (message.kind === 12) socket.write(frameOf([13, message.token, { server: 'sockbusd 0.2.0', clients: [] }]));
    });
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      emit('bytes', { total: bytes });
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  });
  const deadline = Date.now() + waitForFreeMs;
  for (;;) {
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      server.once('error', resolve);
      server.listen(path, () => {
        server.off('error', resolve);
        resolve(null);
      });
    });
    if (!error) break;
    if (!waitForFree || Date.now() > deadline || (error.code !== 'EADDRINUSE' && error.code !== 'ENOENT')) throw error;
    await sleep(2);
  }
  emit('listening', { path });
  await new Promise(() => undefined);
});
