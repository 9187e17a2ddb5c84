import { randomBytes } from 'node:crypto';

/** Where a reply goes: the requesting connection and the id it awaits the reply under. */
export interface ReplyTarget {
  connectionId: number;
  requestId: number;
}

/**
 * Reply addresses are `<boot>.<connection>.<request>`, opaque to clients.
 * A reply is sent to one connection directly, so no subscription is made
 * per request and nobody else can listen in. The boot id changes with
 * every broker start, so a reply to an address from before a restart is
 * not mistaken for an answer to a new request on a reused connection id.
 */
export class ReplyAddresses {
  private readonly bootId = randomBytes(6).toString('hex');

  addressFor(connectionId: number, requestId: number): string {
    return `${this.bootId}.${connectionId}.${requestId}`;
  }

  /** The target of an address; 'stale' for one from an earlier broker, 'invalid' for one no broker made. */
  resolve(address: string): ReplyTarget | 'stale' | 'invalid' {
    const match = /^([0-9a-f]{12})\.(\d{1,15})\.(\d{1,15})$/.exec(address);
    if (!match) return 'invalid';
    if (match[1] !== this.bootId) return 'stale';
    return { connectionId: Number(match[2]), requestId: Number(match[3]) };
  }
}
