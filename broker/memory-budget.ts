import { mebibytes } from '../protocol/index.js';
import type { Logger } from './log.js';

/**
 * What the broker keeps for a connection beyond its buffers: the socket,
 * its parser and counters, as measured per idle connection (bench (g)).
 */
export const CONNECTION_COST_BYTES = 16 * 1024;
/** What one subscription costs besides its trie nodes. */
export const SUBSCRIPTION_COST_BYTES = 256;
/** What one trie node of a pattern costs: the broker's RSS grew about three times what 256 bytes a node charged (attack row long-patterns). */
export const PATTERN_TOKEN_COST_BYTES = 768;
/** What one retained value costs besides its bytes: its entry in the store and the index. */
export const RETAINED_ENTRY_COST_BYTES = 256;
/** What one pending request costs: its address, its entry and its set of responders. */
export const REQUEST_COST_BYTES = 256;

/** Below this share of its limit, an account that went over is back to normal and the next episode is logged again. */
const EPISODE_END_RATIO = 0.75;

export interface MemoryLimits {
  /** Bytes all clients together may make the broker hold. */
  maxMemoryBytes: number;
  /** Bytes the clients of one uid together may make the broker hold. */
  maxMemoryPerUidBytes: number;
}

/**
 * The memory one user's clients make the broker hold: outbound buffers,
 * subscriptions, retained values, pending requests and connection state.
 * One account per uid, shared by all of that user's connections, so a
 * user can only ever use up its own share (the dbus-broker model).
 */
export class MemoryAccount {
  usedBytes = 0;
  /** Bytes of the patterns this user's connections subscribe to, for the per-uid pattern bound. */
  patternBytes = 0;
  connections = 0;
  subscriptions = 0;
  queueSubscriptions = 0;
  /** Messages dropped and requests refused because this account was at its share. */
  dropped = 0;
  refused = 0;
  /** Whether the current episode of being at the share was logged already. */
  private reported = false;

  constructor(
    readonly uid: number | null,
    /** The user as log lines and errors name it: `user alice (uid 1000)`. */
    readonly who: string,
    /** The user's name from the user database, when known. */
    readonly user: string | null,
    private readonly budget: MemoryBudget,
  ) {}

  get limitBytes(): number {
    return this.budget.limits.maxMemoryPerUidBytes;
  }

  /** Whether `bytes` more fit this user's share and, when the broker is full, its fair part of the whole. */
  hasRoomFor(bytes: number): boolean {
    return this.budget.admits(this, bytes);
  }

  charge(bytes: number): void {
    this.usedBytes += bytes;
    this.budget.totalBytes += bytes;
  }

  release(bytes: number): void {
    this.usedBytes -= bytes;
    this.budget.totalBytes -= bytes;
    if (this.reported && this.usedBytes < EPISODE_END_RATIO * this.limitBytes) this.reported = false;
  }

  /** Counts a refusal for lack of room and logs the first of an episode, naming who used the share. */
  noteRefused(what: 'dropped' | 'refused', client: string): void {
    this[what]++;
    if (this.reported) return;
    this.reported = true;
    this.budget.log.warn(
      `${this.who} is at its memory share: its clients hold ${mebibytes(this.usedBytes)} of ${mebibytes(this.limitBytes)} (--max-memory-per-uid), ` +
        `broker total ${mebibytes(this.budget.totalBytes)} of ${mebibytes(this.budget.limits.maxMemoryBytes)} (--max-memory); ` +
        `its messages are dropped and its new subscriptions refused until it reads; first hit by ${client}`,
    );
  }
}

/**
 * The broker's memory budget as a whole and its share per user. A user is
 * held to its share; when the clients of all users together reach the
 * whole budget, only users above an even split of it are held back, so a
 * user who uses little still gets room.
 */
export class MemoryBudget {
  totalBytes = 0;
  private readonly accounts = new Map<number | null, MemoryAccount>();

  constructor(
    readonly limits: MemoryLimits,
    readonly log: Logger,
  ) {}

  /** The account of a uid (null: peers of unknown identity, who share one). */
  accountFor(uid: number | null, who: string, user: string | null = null): MemoryAccount {
    let account = this.accounts.get(uid);
    if (!account) this.accounts.set(uid, (account = new MemoryAccount(uid, who, user, this)));
    return account;
  }

  admits(account: MemoryAccount, bytes: number): boolean {
    const after = account.usedBytes + bytes;
    if (after > this.limits.maxMemoryPerUidBytes) return false;
    if (this.totalBytes + bytes <= this.limits.maxMemoryBytes) return true;
    return after <= this.limits.maxMemoryBytes / this.accounts.size;
  }

  /** Every account, for stats. */
  all(): Iterable<MemoryAccount> {
    return this.accounts.values();
  }
}

