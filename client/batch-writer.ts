import type net from 'node:net';
import { FRAME_HEADER_BYTES } from '../protocol/index.js';

const CHUNK_BYTES = 64 * 1024;
/** Below this much room, a fresh chunk is cheaper than many tiny writes. */
const MIN_CHUNK_REMAINDER = 4 * 1024;

/**
 * Coalesces frames into few large writes: frames are copied into a chunk,
 * and the chunk goes to the socket when it is full or at the end of the
 * current microtask. A burst of publishes costs one syscall per 64 KiB.
 */
export class BatchWriter {
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private start = 0;
  private end = 0;
  private scheduled = false;
  private readonly flushScheduled = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly socket: net.Socket) {}

  /** Bytes accepted but not yet handed to the kernel. */
  get pendingBytes(): number {
    return this.end - this.start + this.socket.writableLength;
  }

  /** Frames one msgpack body and queues it. */
  append(body: Uint8Array): void {
    this.appendParts([body]);
  }

  /** Frames a body given as consecutive parts (see encodePublishParts) and queues it. */
  appendParts(parts: Uint8Array[]): void {
    let bodyBytes = 0;
    for (const part of parts) bodyBytes += part.length;
    const frameBytes = FRAME_HEADER_BYTES + bodyBytes;
    if (frameBytes > CHUNK_BYTES) {
      // Larger than a chunk: its own write, after what is already queued.
      this.flush();
      this.socket.write(Buffer.concat([lengthPrefix(bodyBytes), ...parts], frameBytes));
      return;
    }
    if (this.end + frameBytes > this.chunk.length) {
      this.flush();
      if (this.end + frameBytes > this.chunk.length) this.renewChunk();
    }
    this.chunk.writeUInt32BE(bodyBytes, this.end);
    let offset = this.end + FRAME_HEADER_BYTES;
    for (const part of parts) {
      this.chunk.set(part, offset);
      offset += part.length;
    }
    this.end += frameBytes;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushScheduled);
    }
  }

  /** Hands everything queued to the socket now. */
  flush(): void {
    if (this.end === this.start) return;
    this.socket.write(this.chunk.subarray(this.start, this.end));
    // The written bytes belong to the socket now; keep filling after them.
    if (this.chunk.length - this.end >= MIN_CHUNK_REMAINDER) this.start = this.end;
    else this.renewChunk();
  }

  private renewChunk(): void {
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.start = 0;
    this.end = 0;
  }
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  prefix.writeUInt32BE(length, 0);
  return prefix;
}
