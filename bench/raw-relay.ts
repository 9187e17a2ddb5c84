import net from 'node:net';
import { FRAME_HEADER_BYTES } from '../protocol/index.js';

/**
 * The ceiling: the least a single-threaded Node broker could do. It splits
 * the byte stream into length-prefixed frames and forwards each frame to
 * every receiver, without decoding, routing or bounds. A connection becomes
 * a receiver by sending one empty frame, so publishers are not sent each
 * other's traffic.
 * Usage: node dist-tools/bench/raw-relay.js SOCKET_PATH
 */
const path = process.argv[2]!;
const receivers = new Set<net.Socket>();
const corked = new Set<net.Socket>();

function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

function forward(from: net.Socket, frame: Buffer): void {
  for (const socket of receivers) {
    if (socket === from) continue;
    if (!corked.has(socket)) {
      if (corked.size === 0) process.nextTick(uncorkAll);
      corked.add(socket);
      socket.cork();
    }
    socket.write(frame);
  }
}

const server = net.createServer((socket) => {
  // Split by hand rather than with FrameDecoder: the relay forwards each
  // frame's own bytes, length prefix included, and the decoder hands out
  // bodies only.
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = data.readUInt32BE(offset);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > data.length) break;
      if (length === 0) receivers.add(socket);
      else forward(socket, data.subarray(offset, end));
      offset = end;
    }
    pending = data.subarray(offset);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => receivers.delete(socket));
});
server.listen(path, () => process.stdout.write(`raw relay listening on ${path}\n`));
process.on('SIGTERM', () => process.exit(0));
