import { ErrorCode, mebibytes, MessageKind, type PublishFrame } from '../protocol/index.js';
import { hasNilData, keptValueOf, type KeptValue } from './delivery.js';
import type { Connection } from './connection.js';
import type { Logger } from './log.js';
import { RETAINED_ENTRY_COST_BYTES, type MemoryBudget, type MemoryAccount } from './memory-budget.js';
import { RetainedStore, sizeOf, type RetainedEntry, type RetainedLimits } from './retained-store.js';
import { StateFile } from './state-file.js';
import type { BrokerCounters } from './stats.js';

/**
 * Retained values (PROTOCOL.md §3.13): the bounded store, its state file,
 * and what each value costs its publisher's user. The store decides what
 * fits; this decides who pays and who is told when a value does not fit.
 */
export class RetainedValues {
  private readonly store: RetainedStore;
  private readonly stateFile: StateFile | null;

  constructor(
    limits: RetainedLimits,
    statePath: string | undefined,
    private readonly memory: MemoryBudget,
    private readonly counters: BrokerCounters,
    private readonly log: Logger,
  ) {
    this.store = new RetainedStore(limits);
    this.stateFile = statePath ? new StateFile(statePath, log, () => this.store.entries()) : null;
  }

  get count(): number {
    return this.store.count;
  }

  get totalBytes(): number {
    return this.store.totalBytes;
  }

  /** The values a new subscription with this pattern is replayed, least recently set first. */
  matching(pattern: string): Iterable<RetainedEntry> {
    return this.store.matching(pattern);
  }

  /** Keeps or clears the topic's value; a refusal is reported to the publisher, whose publish is still delivered. */
  keep(publish: PublishFrame, from: Connection): void {
    const value = hasNilData(publish) ? null : keptValueOf(publish, from.stamp?.sender);
    if (value && !from.account.hasRoomFor(retainedCost(publish.topic, value))) {
      from.account.noteRefused('refused', from.description);
      const message = `${publish.topic} was delivered but not retained: ${from.access.who} is at its memory share of ${mebibytes(from.account.limitBytes)} (--max-memory-per-uid)`;
      return this.refuse(from, publish.topic, message);
    }
    const refusal = this.set(publish.topic, value);
    if (refusal) return this.refuse(from, publish.topic, refusal);
    this.stateFile?.requestSave();
  }

  /** Loads the state file, if any, keeping what fits the bounds. */
  async restore(): Promise<void> {
    if (!this.stateFile) return;
    const saved = await this.stateFile.load();
    let refused = 0;
    for (const entry of saved) if (this.set(entry.topic, entry)) refused++;
    await this.stateFile.saveNow();
    const note = refused ? `; ${refused} did not fit the retained bounds and were left out` : '';
    this.log.info(`restored ${saved.length - refused} retained values from ${this.stateFile.path}${note}`);
  }

  /** Writes what is pending to the state file. */
  async flush(): Promise<void> {
    await this.stateFile?.flush();
  }

  private refuse(from: Connection, topic: string, message: string): void {
    this.counters.retainedRefused++;
    from.refuseFrame({ code: ErrorCode.RetainedStoreFull, message }, { kind: MessageKind.Publish, topic });
  }

  /** Sets a value, moving its cost from the previous publisher's account to the new one's. */
  private set(topic: string, value: KeptValue | null): string | null {
    const previous = this.store.get(topic);
    const refusal = this.store.set(topic, value);
    if (refusal) return refusal;
    if (previous) this.ownerOf(previous).release(retainedCost(topic, previous));
    if (value) this.ownerOf(value).charge(retainedCost(topic, value));
    return null;
  }

  /** The account a value counts against: its publisher's user. */
  private ownerOf(value: KeptValue): MemoryAccount {
    const uid = value.sender?.uid ?? null;
    return this.memory.accountFor(uid, uid === null ? 'a peer of unknown identity' : `uid ${uid}`);
  }
}

/** What a retained value makes the broker hold: its bytes, its entry and its place in the index. */
function retainedCost(topic: string, value: KeptValue): number {
  return RETAINED_ENTRY_COST_BYTES + 2 * Buffer.byteLength(topic) + sizeOf(value);
}
