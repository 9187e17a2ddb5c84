import type net from 'node:net';
import { socketSendBuffer } from '../client/native-addon.js';
import type { MemoryAccount } from './memory-budget.js';

/**
 * What a busy connection's kernel send buffer is raised to ask for (Linux
 * caps the request at net.core.wmem_max, then doubles it). The default of about
 * 200 KiB makes a broker, a publisher and a subscriber on two cores take
 * turns in small steps: measured in bench (a), raising it took the same
 * three processes from about 490,000 to 700,000 messages a second.
 */
export const BUSY_SEND_BUFFER_BYTES = 1024 * 1024;
/** Raised buffers of one user take at most this part of its memory share, so they never crowd out its messages. */
const SHARE_FRACTION = 4;

/**
 * A connection's kernel send buffer: left at the system default until the
 * connection backs up (a subscriber with traffic), then raised once (to
 * at most the connection's --max-pending, as Linux counts it), and
 * what the kernel may then hold beyond the default is charged to the
 * user's memory account until the connection closes. Raised buffers are
 * bounded by the share; the default buffer every connection has is not
 * charged (a user's connections are bounded by --max-connections-per-uid).
 */
export class SendBuffer {
  private chargedBytes = 0;
  private settled = false;

  /** What to ask the kernel for: never more than half the connection's own bound, so the kernel holds no more than Node may. */
  private readonly requestBytes: number;

  constructor(
    private readonly socket: net.Socket,
    private readonly account: MemoryAccount,
    maxPendingBytes: number,
  ) {
    this.requestBytes = Math.min(BUSY_SEND_BUFFER_BYTES, Math.floor(maxPendingBytes / 2));
  }

  /** The kernel did not take a whole write: raise the buffer, once, if the user's share has room. */
  backedUp(): void {
    if (this.settled) return;
    const before = socketSendBuffer(this.socket, 0);
    const extra = before === null ? 0 : 2 * this.requestBytes - before;
    // No addon, a closed socket, or a default already as large: nothing to raise, now or later.
    if (before === null || extra <= 0) {
      this.settled = true;
      return;
    }
    const account = this.account;
    // Not now; a later backup asks again, when the share may have room.
    if (account.usedBytes + extra > account.limitBytes / SHARE_FRACTION || !account.hasRoomFor(extra)) return;
    this.settled = true;
    const grown = Math.max(0, (socketSendBuffer(this.socket, this.requestBytes) ?? before) - before);
    this.chargedBytes = grown;
    account.charge(grown);
  }

  /** The connection closed: its kernel buffer is gone. */
  release(): void {
    this.account.release(this.chargedBytes);
    this.chargedBytes = 0;
  }
}
