import type net from 'node:net';
import { encodeBody, FRAME_HEADER_BYTES, FrameBatcher, MessageKind } from '../protocol/index.js';
import type { MemoryAccount } from './memory-budget.js';
import type { BrokerLimits } from './options.js';
import { SendBuffer } from './send-buffer.js';

/**
 * Extra room for control frames (pong, errors, drop notices) above the
 * message bound: they are never dropped, but a peer that sends pings and
 * never reads the answers is cut off once they pass this too.
 */
export const CONTROL_ALLOWANCE_BYTES = 64 * 1024;

export interface OutboundEvents {
  /** A message for this connection was discarded because its buffer, or its user's memory share, was full. */
  onDrop(becauseOfShare: boolean): void;
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
  /** What this connection's waiting bytes have been charged to its user's account, so far. */
  private charged = 0;
  /** Runs when the socket took a write: one function for every write, not a closure each. */
  private readonly settle = () => this.recharge();
  private noticeScheduled = false;
  private readonly sendBuffer: SendBuffer;
  /**
   * Runs after the batch of the tick that dropped was handed to the socket.
   * The notice goes out once nothing waits in front of it: now, when the
   * kernel took the whole batch, else when a later write completes with
   * the queue empty (or on 'drain'). A notice never queues behind unread
   * bytes, so a peer that does not read cannot make notices pile up in
   * its user's share, and one that reads always hears what it lost.
   */
  private readonly noticeAfterBatch = () => {
    this.noticeScheduled = false;
    if (this.socket.writableLength === 0) this.reportDrops();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly limits: BrokerLimits,
    private readonly account: MemoryAccount,
    private readonly events: OutboundEvents,
  ) {
    this.sendBuffer = new SendBuffer(socket, account, limits.maxPendingBytes);
    this.batcher = new FrameBatcher({
      write: (bytes) => {
        if (socket.destroyed || !socket.writable) return;
        socket.write(bytes, this.settle);
        // What the kernel did not take at once waits in Node: this peer has traffic enough for a larger kernel buffer.
        if (socket.writableLength > 0) this.sendBuffer.backedUp();
      },
      heldBytes: () => socket.writableLength,
      schedule: (flush) => process.nextTick(flush),
    });
    socket.on('drain', () => this.reportDrops());
    socket.on('close', () => this.releaseAll());
  }

  /** Bytes queued for this connection and not yet taken by the kernel. */
  get pendingBytes(): number {
    return this.batcher.pendingBytes;
  }

  /** The largest control body that may be queued now. */
  get controlRoomBytes(): number {
    return Math.max(0, this.limits.maxPendingBytes + CONTROL_ALLOWANCE_BYTES - this.pendingBytes - FRAME_HEADER_BYTES);
  }

  /** Whether a message body of this size fits in the buffer and in the user's memory share now. */
  hasRoomFor(bodyBytes: number): boolean {
    return this.shortOf(FRAME_HEADER_BYTES + bodyBytes) === null;
  }

  /** Queues a message given as body parts; returns false when the policy discarded it. */
  sendMessage(parts: readonly Uint8Array[], bodyBytes: number): boolean {
    const frameBytes = FRAME_HEADER_BYTES + bodyBytes;
    const short = this.shortOf(frameBytes);
    if (short === null) {
      this.batcher.appendParts(parts, bodyBytes);
      this.charge(frameBytes);
      return true;
    }
    if (short === 'share') {
      // The user's clients together hold their whole share: theirs drop, nobody else's.
      this.drop(true);
    } else if (this.limits.slowConsumer === 'disconnect') {
      this.events.onOverflow(`outbound buffer of ${this.limits.maxPendingBytes} bytes is full: the client does not read fast enough`);
    } else {
      this.drop(false);
    }
    return false;
  }

  private drop(becauseOfShare: boolean): void {
    this.droppedSinceNotice++;
    this.events.onDrop(becauseOfShare);
    if (this.noticeScheduled) return;
    this.noticeScheduled = true;
    process.nextTick(this.noticeAfterBatch);
  }

  /** What a frame of this size does not fit now: this connection's buffer, its user's memory share, or nothing (null). */
  private shortOf(frameBytes: number): 'buffer' | 'share' | null {
    if (this.pendingBytes + frameBytes > this.limits.maxPendingBytes) return 'buffer';
    return this.account.hasRoomFor(frameBytes) ? null : 'share';
  }

  /** Queues a control message body, which is never dropped. */
  sendControl(body: Uint8Array): void {
    if (body.length > this.controlRoomBytes) {
      this.events.onOverflow('outbound buffer is full and the client does not read its replies');
      return;
    }
    this.queueControl(body);
  }

  /**
   * Queues the last frame before the connection ends (its error). It never
   * reports an overflow, since the connection is already closing: when there
   * is no room, the peer that does not read loses the frame, not the broker.
   */
  sendFinal(body: Uint8Array): void {
    if (body.length <= this.controlRoomBytes) this.queueControl(body);
  }

  /** Never refused for the share (answers and notices must get through), but counted in it. */
  private queueControl(body: Uint8Array): void {
    this.batcher.append(body);
    this.charge(FRAME_HEADER_BYTES + body.length);
  }

  /** Lets the batch buffer go when it is empty; the next message allocates one again. */
  releaseIdleBuffer(): void {
    this.batcher.release();
  }

  /** Hands everything queued to the socket now, before it is ended. */
  flush(): void {
    this.batcher.flush();
  }

  private charge(bytes: number): void {
    this.charged += bytes;
    this.account.charge(bytes);
  }

  /** Brings the account in line with what still waits, after the socket took some of it. */
  private recharge(): void {
    if (this.socket.destroyed) return;
    const waiting = this.pendingBytes;
    this.account.release(this.charged - waiting);
    this.charged = waiting;
    if (this.droppedSinceNotice > 0 && this.socket.writableLength === 0) this.reportDrops();
  }

  private releaseAll(): void {
    this.account.release(this.charged);
    this.charged = 0;
    this.sendBuffer.release();
  }

  /** Tells the subscriber what it lost once there is room to say so. */
  private reportDrops(): void {
    if (this.droppedSinceNotice === 0) return;
    const count = this.droppedSinceNotice;
    this.droppedSinceNotice = 0;
    this.sendControl(encodeBody({ kind: MessageKind.Dropped, count }));
  }
}
