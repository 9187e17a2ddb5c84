import { randomBytes } from 'node:crypto';
import { REQUEST_COST_BYTES, type MemoryAccount } from './memory-budget.js';

/** Whether a string has the shape of the addresses this module makes (16 base64url characters). */
export function isReplyAddress(text: string): boolean {
  return /^[A-Za-z0-9_-]{16}$/.test(text);
}

/** A request the broker routed and may still accept an answer to. */
export interface PendingRequest {
  readonly requesterId: number;
  readonly requestId: number;
  /** The connections the request was delivered to: the only ones whose answer is taken. */
  readonly responders: Set<number>;
  readonly expiresAt: number;
  /** The requester's memory account, which the request counts against while it is pending. */
  readonly account: MemoryAccount;
}

/** What became of a respond: the request it answers, or why it answers none. */
export type Resolution = PendingRequest | 'unknown' | 'not-asked';

/** Random bytes drawn for addresses at a time: one system call per this many requests. */
const ENTROPY_BATCH_BYTES = 4096;
const SECRET_BYTES = 12;

/**
 * The requests awaiting an answer, by reply address. An address is
 * random (96 bits) so it cannot be guessed, and it is good only for the
 * connections the request was delivered to, only until the first answer,
 * the requester's departure or its expiry: so no other user can answer
 * someone else's request, and nobody can answer twice. Bounded per
 * requester, so one client cannot make the broker remember without end.
 */
export class PendingRequests {
  private readonly byAddress = new Map<string, PendingRequest>();
  /** Each requester's pending addresses by request id, oldest first. */
  private readonly byRequester = new Map<number, Map<number, string>>();
  private entropy = Buffer.alloc(0);
  private entropyOffset = 0;

  constructor(
    private readonly maxPerRequester: number,
    private readonly lifetimeMs: number,
  ) {}

  get size(): number {
    return this.byAddress.size;
  }

  /**
   * Starts a request and returns its reply address, or why it cannot: the
   * requester already has as many awaiting an answer as allowed, or its
   * user is at its memory share (the request is charged to it here). A
   * request id still pending is replaced.
   */
  open(requesterId: number, requestId: number, account: MemoryAccount, now: number): { address: string; request: PendingRequest } | 'too-many' | 'over-share' {
    if (!account.hasRoomFor(REQUEST_COST_BYTES)) return 'over-share';
    let own = this.byRequester.get(requesterId);
    if (!own) this.byRequester.set(requesterId, (own = new Map()));
    const previous = own.get(requestId);
    if (previous !== undefined) this.close(previous);
    else if (own.size >= this.maxPerRequester) return 'too-many';
    const address = this.newAddress();
    const request: PendingRequest = { requesterId, requestId, responders: new Set(), expiresAt: now + this.lifetimeMs, account };
    account.charge(REQUEST_COST_BYTES);
    this.byAddress.set(address, request);
    own.set(requestId, address);
    return { address, request };
  }

  /** Takes the answer of `responderId` to `address`: the request is then answered and closed. */
  answer(address: string, responderId: number): Resolution {
    const request = this.byAddress.get(address);
    if (!request) return 'unknown';
    if (!request.responders.has(responderId)) return 'not-asked';
    this.close(address);
    return request;
  }

  /** Forgets a request nobody could be asked (no receivers). */
  cancel(address: string): void {
    this.close(address);
  }

  /** Forgets every request of a requester that has gone. */
  requesterGone(requesterId: number): void {
    const own = this.byRequester.get(requesterId);
    if (!own) return;
    for (const address of own.values()) {
      this.byAddress.get(address)!.account.release(REQUEST_COST_BYTES);
      this.byAddress.delete(address);
    }
    this.byRequester.delete(requesterId);
  }

  /** Forgets requests past their lifetime; the oldest come first, so this stops at the first still alive. */
  expire(now: number): void {
    for (const [address, request] of this.byAddress) {
      if (request.expiresAt > now) return;
      this.close(address);
    }
  }

  private close(address: string): void {
    const request = this.byAddress.get(address);
    if (!request) return;
    request.account.release(REQUEST_COST_BYTES);
    this.byAddress.delete(address);
    const own = this.byRequester.get(request.requesterId)!;
    own.delete(request.requestId);
    if (own.size === 0) this.byRequester.delete(request.requesterId);
  }

  private newAddress(): string {
    if (this.entropyOffset + SECRET_BYTES > this.entropy.length) {
      this.entropy = randomBytes(ENTROPY_BATCH_BYTES);
      this.entropyOffset = 0;
    }
    const secret = this.entropy.toString('base64url', this.entropyOffset, this.entropyOffset + SECRET_BYTES);
    this.entropyOffset += SECRET_BYTES;
    return secret;
  }
}
