import type net from 'node:net';
import { encodeBody, FRAME_HEADER_BYTES, FrameBatcher, MessageKind } from '../protocol/index.js';
import type { BrokerLimits } from './options.js';

/**
 * Extra room for control frames (pong, errors, drop notices) above the
 * message bound: they are never dropped, but a peer that sends pings and
 * never reads the answers is cut off once they pass this too.
 */
const CONTROL_ALLOWANCE_BYTES = 64 * 1024;

export interface OutboundEvents {
  /** A message for this connection was discarded because its buffer was full. */
  onDrop(): void;
  /** The peer cannot keep up and must be disconnected. */
  onOverflow(reason: string): void;
}

/**
 * The one write path of a connection. Frames written in one tick are
 * copied into one batch and go to the socket in one write at the next tick;
 * what waits is bounded, and the slow-consumer policy (drop and count, or
 * disconnect) lives here only.
 */
export class Outbound {
  private droppedSinceNotice = 0;
  private readonly batcher: FrameBatcher;

  constructor(
    private readonly socket: net.Socket,
    private readonly limits: BrokerLimits,
    private readonly events: OutboundEvents,
  ) {
    this.batcher = new FrameBatcher({
      write: (bytes) => {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      },
      schedule: (flush) => process.nextTick(flush),
    });
    socket.on('drain', () => this.reportDrops());
  }

  /** Bytes queued for this connection and not yet taken by the kernel. */
  get pendingBytes(): number {
    return this.batcher.bufferedBytes + this.socket.writableLength;
  }

  /** Whether a message body of this size fits in the buffer now. */
  hasRoomFor(bodyBytes: number): boolean {
    return this.pendingBytes + FRAME_HEADER_BYTES + bodyBytes <= this.limits.maxPendingBytes;
  }

  /** Queues a message given as body parts; returns false when the policy discarded it. */
  sendMessage(parts: readonly Uint8Array[], bodyBytes: number): boolean {
    if (this.hasRoomFor(bodyBytes)) {
      this.batcher.appendParts(parts);
      return true;
    }
    if (this.limits.slowConsumer === 'disconnect') {
      this.events.onOverflow(`outbound buffer of ${this.limits.maxPendingBytes} bytes is full: the client does not read fast enough`);
    } else {
      this.droppedSinceNotice++;
      this.events.onDrop();
    }
    return false;
  }

  /** Queues a control message body, which is never dropped. */
  sendControl(body: Uint8Array): void {
    if (this.pendingBytes + FRAME_HEADER_BYTES + body.length > this.limits.maxPendingBytes + CONTROL_ALLOWANCE_BYTES) {
      this.events.onOverflow('outbound buffer is full and the client does not read its replies');
      return;
    }
    this.batcher.append(body);
  }

  /**
   * Queues the last frame before the connection ends (its error). It never
   * reports an overflow, since the connection is already closing: when there
   * is no room, the peer that does not read loses the frame, not the broker.
   */
  sendFinal(body: Uint8Array): void {
    if (this.pendingBytes + FRAME_HEADER_BYTES + body.length > this.limits.maxPendingBytes + CONTROL_ALLOWANCE_BYTES) return;
    this.batcher.append(body);
  }

  /** Hands everything queued to the socket now, before it is ended. */
  flush(): void {
    this.batcher.flush();
  }

  /** Tells the subscriber what it lost once there is room to say so. */
  private reportDrops(): void {
    if (this.droppedSinceNotice === 0) return;
    const count = this.droppedSinceNotice;
    this.droppedSinceNotice = 0;
    this.sendControl(encodeBody({ kind: MessageKind.Dropped, count }));
  }
}
