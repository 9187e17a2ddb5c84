import { ErrorCode, ProtocolError } from './errors.js';
import { FRAME_HEADER_BYTES } from './limits.js';

/**
 * Wraps an encoded msgpack value in a frame: a 4-byte unsigned big-endian
 * length, then the value.
 */
export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/** Receives each complete frame body, in order. */
export type FrameSink = (body: Buffer) => void;

/**
 * Incremental frame decoder: feed it chunks as they arrive, it calls the sink
 * once per complete frame. It checks the announced length before buffering a
 * single byte of the body, so a peer cannot make it hold more than
 * `maxFrameBytes` (plus one partial chunk).
 */
export class FrameDecoder {
  /** Chunks of an incomplete frame, joined only once the whole frame is here. */
  private pendingChunks: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the incomplete frame needs before it can be decoded. */
  private neededBytes = FRAME_HEADER_BYTES;
  private failed: ProtocolError | null = null;
  /** Set by the sink to stop after the frame it is handling; the rest waits for resume(). */
  private held = false;

  constructor(
    private maxFrameBytes: number,
    private readonly sink: FrameSink,
  ) {}

  /** Changes the longest frame accepted from now on: a client learns the broker's from its welcome. */
  limitTo(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of read buffers the bytes waiting here keep alive (views pin whole reads). */
  get retainedBytes(): number {
    let bytes = 0;
    for (const chunk of this.pendingChunks) bytes += chunk.buffer.byteLength;
    return bytes;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Throws ProtocolError (FRAME_TOO_LARGE or MALFORMED_FRAME) on the first
   * bad frame; the stream cannot be resynchronised after that, so every
   * later push throws the same error.
   */
  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    if (this.held) {
      this.pendingChunks.push(chunk);
      this.pendingBytes += chunk.length;
      return;
    }
    if (this.pendingBytes === 0) {
      this.consume(chunk);
      return;
    }
    const waitingBytes = this.pendingBytes;
    this.pendingChunks.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.neededBytes) return;
    if (this.neededBytes === FRAME_HEADER_BYTES) {
      // Even the length was split (rare): join it all and start over.
      const data = Buffer.concat(this.pendingChunks, this.pendingBytes);
      this.pendingChunks = [];
      this.pendingBytes = 0;
      this.consume(data);
      return;
    }
    // Only the frame in progress is joined: copying the whole new chunk with
    // it would copy every byte received twice when frames straddle reads.
    const completing = this.neededBytes - waitingBytes;
    this.pendingChunks[this.pendingChunks.length - 1] = chunk.subarray(0, completing);
    const frame = Buffer.concat(this.pendingChunks, this.neededBytes);
    this.pendingChunks = [];
    this.pendingBytes = 0;
    this.neededBytes = FRAME_HEADER_BYTES;
    this.consume(frame);
    if (completing === chunk.length) return;
    const rest = chunk.subarray(completing);
    if (this.held) {
      this.pendingChunks.push(rest);
      this.pendingBytes = rest.length;
      return;
    }
    this.consume(rest, chunk.length);
  }

  /**
   * Called from the sink: stop after the current frame, keeping the rest
   * (whole frames included) until resume(). A receiver uses it to give
   * other connections their turn after a costly run of frames.
   */
  hold(): void {
    this.held = true;
  }

  /** Goes on with what was kept when hold() stopped it; may stop again. */
  resume(): void {
    if (this.failed) throw this.failed;
    this.held = false;
    if (this.pendingBytes === 0) return;
    const data = this.pendingChunks.length === 1 ? this.pendingChunks[0]! : Buffer.concat(this.pendingChunks, this.pendingBytes);
    this.pendingChunks = [];
    this.pendingBytes = 0;
    this.neededBytes = FRAME_HEADER_BYTES;
    this.consume(data);
  }

  /** `readBytes`: the size of the read `data` is part of, which a view of its tail would keep alive. */
  private consume(data: Buffer, readBytes = data.length): void {
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = data.readUInt32BE(offset);
      this.checkLength(length);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > data.length) break;
      this.sink(data.subarray(offset + FRAME_HEADER_BYTES, end));
      offset = end;
      if (this.held) {
        // Kept as a view: it is this read's own unhandled part, handled soon.
        if (offset < data.length) {
          this.pendingChunks.push(data.subarray(offset));
          this.pendingBytes = data.length - offset;
        }
        return;
      }
    }
    const remainder = data.length - offset;
    if (remainder === 0) return;
    // A small remainder is copied: kept as a view it would pin the whole
    // chunk, and many connections each holding a few bytes of a 64 KiB read
    // would multiply memory (a cheap attack on a broker).
    const rest = data.subarray(offset);
    this.pendingChunks.push(remainder * 2 < readBytes ? Buffer.from(rest) : rest);
    this.pendingBytes = remainder;
    this.neededBytes =
      remainder >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + data.readUInt32BE(offset) : FRAME_HEADER_BYTES;
  }

  private checkLength(length: number): void {
    if (length === 0) {
      this.failed = new ProtocolError(ErrorCode.MalformedFrame, 'frame of length 0: a frame must hold one msgpack value');
    } else if (length > this.maxFrameBytes) {
      this.failed = new ProtocolError(
        ErrorCode.FrameTooLarge,
        `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes} bytes`,
      );
    }
    if (this.failed) throw this.failed;
  }
}
