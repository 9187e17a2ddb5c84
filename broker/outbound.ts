import type net from 'node:net';
import { encodeMessage, MessageKind } from '../protocol/index.js';
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
 * The one write path of a connection. Writes made in one tick are corked
 * together into a single writev; the buffer is bounded, and the
 * slow-consumer policy (drop and count, or disconnect) lives here only.
 */
export class Outbound {
  private corked = false;
  private droppedSinceNotice = 0;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly limits: BrokerLimits,
    private readonly events: OutboundEvents,
  ) {
    socket.on('drain', () => this.reportDrops());
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  /** Queues a message frame; returns false when the policy discarded it. */
  sendMessage(frame: Buffer): boolean {
    if (this.socket.writableLength + frame.length <= this.limits.maxPendingBytes) {
      this.write(frame);
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

  /** Queues a control frame, which is never dropped. */
  sendControl(frame: Buffer): void {
    if (this.socket.writableLength + frame.length > this.limits.maxPendingBytes + CONTROL_ALLOWANCE_BYTES) {
      this.events.onOverflow('outbound buffer is full and the client does not read its replies');
      return;
    }
    this.write(frame);
  }

  private write(frame: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(frame);
  }

  /** Tells the subscriber what it lost once there is room to say so. */
  private reportDrops(): void {
    if (this.droppedSinceNotice === 0) return;
    const count = this.droppedSinceNotice;
    this.droppedSinceNotice = 0;
    this.sendControl(encodeMessage({ kind: MessageKind.Dropped, count }));
  }
}
