import { FRAME_HEADER_BYTES } from './limits.js';

/** Where a batcher's bytes go, and how it asks to be flushed later. */
export interface BatchSink {
  write(bytes: Buffer): void;
  /** Bytes the sink took and has not passed on yet: a socket's writableLength. */
  heldBytes(): number;
  /** Runs `flush` once the current burst of appends is over (a microtask, or the next tick). */
  schedule(flush: () => void): void;
}

const CHUNK_BYTES = 64 * 1024;
/** No chunk: the first append renews it, as when a chunk is full. */
const EMPTY = Buffer.alloc(0);
/** Parts up to this long are copied byte by byte (prefixes, nil runs, sender stamps). */
const SMALL_PART_BYTES = 16;
/** Below this much room, a fresh chunk is cheaper than many tiny writes. */
const MIN_CHUNK_REMAINDER = 4 * 1024;

/**
 * Coalesces frames into few large writes: each frame is copied into a
 * chunk, and the chunk goes to the sink when it is full or when the
 * scheduled flush runs. A burst of frames costs one write per 64 KiB
 * instead of one per frame, and no allocation per frame. Both the client
 * and the broker write through one. No I/O of its own: the sink does that.
 */
export class FrameBatcher {
  /** Allocated on the first append after a release: an idle connection holds none. */
  private chunk: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private scheduled = false;
  private readonly flushScheduled = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly sink: BatchSink) {}

  /** Bytes accepted but not yet handed to the sink. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** Bytes accepted and not yet passed on by the sink either (for a socket, not yet taken by the kernel): what waits for the peer. */
  get pendingBytes(): number {
    return this.bufferedBytes + this.sink.heldBytes();
  }

  /** Frames one msgpack body and queues it. */
  append(body: Uint8Array): void {
    this.appendParts([body]);
  }

  /** Frames a body given as consecutive parts and queues it; `bodyBytes` is their total length, when the caller knows it. */
  appendParts(parts: readonly Uint8Array[], bodyBytes = totalLength(parts)): void {
    const frameBytes = FRAME_HEADER_BYTES + bodyBytes;
    if (frameBytes > CHUNK_BYTES) {
      // Larger than a chunk: its own write, after what is already queued.
      this.flush();
      const prefix = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      prefix.writeUInt32BE(bodyBytes, 0);
      this.sink.write(Buffer.concat([prefix, ...parts], frameBytes));
      return;
    }
    if (this.end + frameBytes > this.chunk.length) {
      this.flush();
      if (this.end + frameBytes > this.chunk.length) this.renewChunk();
    }
    const chunk = this.chunk;
    let offset = this.end;
    // The length prefix byte by byte, and small parts too: a call into set() costs more than copying a few bytes.
    chunk[offset] = bodyBytes >>> 24;
    chunk[offset + 1] = (bodyBytes >>> 16) & 0xff;
    chunk[offset + 2] = (bodyBytes >>> 8) & 0xff;
    chunk[offset + 3] = bodyBytes & 0xff;
    offset += FRAME_HEADER_BYTES;
    for (const part of parts) {
      const length = part.length;
      if (length <= SMALL_PART_BYTES) {
        for (let index = 0; index < length; index++) chunk[offset + index] = part[index]!;
      } else {
        chunk.set(part, offset);
      }
      offset += length;
    }
    this.end += frameBytes;
    if (!this.scheduled) {
      this.scheduled = true;
      this.sink.schedule(this.flushScheduled);
    }
  }

  /**
   * Lets the chunk go when nothing is queued in it, so that a connection
   * that has gone quiet holds no 64 KiB buffer (bench (g)); the next
   * append allocates a fresh one. The bytes already handed to the sink
   * stay valid: the sink holds its own view of them.
   */
  release(): void {
    if (this.end !== this.start) return;
    this.chunk = EMPTY;
    this.start = 0;
    this.end = 0;
  }

  /** Hands everything queued to the sink now. */
  flush(): void {
    if (this.end === this.start) return;
    this.sink.write(this.chunk.subarray(this.start, this.end));
    // The written bytes belong to the sink now; keep filling after them.
    if (this.chunk.length - this.end >= MIN_CHUNK_REMAINDER) this.start = this.end;
    else this.renewChunk();
  }

  private renewChunk(): void {
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.start = 0;
    this.end = 0;
  }
}

function totalLength(parts: readonly Uint8Array[]): number {
  let length = 0;
  for (const part of parts) length += part.length;
  return length;
}
