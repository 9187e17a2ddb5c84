import { encodeBody, MessageKind, type BrokerStats, type ClientEntry, type UserEntry } from '../protocol/index.js';
import type { Connection } from './connection.js';
import type { MemoryBudget } from './memory-budget.js';
import { presenceOf } from './presence.js';
import type { BrokerCounters } from './stats.js';

/** Most clients one stats answer lists; `clientsTotal` says how many there are. */
export const MAX_CLIENTS_LISTED = 1000;

/** What a stats answer is made of, each part owned elsewhere. */
export interface StatsSources {
  readonly serverName: string;
  /** The longest frame body the broker sends (welcome's maxBrokerFrameBytes): an answer never passes it. */
  readonly maxAnswerBytes: number;
  readonly startedAt: number;
  readonly counters: BrokerCounters;
  readonly connections: ReadonlyMap<number, Connection>;
  readonly memory: MemoryBudget;
  socketPath(): string;
  /** How many subscriptions one connection holds. */
  subscriptionsOf(connection: Connection): number;
  socketProblem(): string | null;
  acceptFailures(): number;
  subscriptions(): number;
  pendingRequests(): number;
  retained(): { count: number; bytes: number };
  policySource(): string;
  /** Whether the asker may see every user's connections, not only its own. */
  seesEveryone(asker: Connection): boolean;
  /** More sections from parts beside the broker (the bridge, as `bridge`). */
  sections(): Partial<Pick<BrokerStats, 'bridge'>>;
}

/**
 * The stats answer for `asker`, encoded, never larger than `maxBytes`: the
 * client list is cut to fit (and to MAX_CLIENTS_LISTED), and says so, so a
 * broker with many clients cannot overflow the asker's buffer.
 */
export function encodeStats(sources: StatsSources, asker: Connection, token: number, maxBytes: number): Uint8Array {
  const seesEveryone = sources.seesEveryone(asker);
  const ownUid = asker.credentials?.uid;
  const visible = [...sources.connections.values()].filter((connection) => seesEveryone || connection.credentials?.uid === ownUid);
  const stats = { ...counters(sources), users: users(sources, seesEveryone, ownUid), clientsListed: seesEveryone ? ('all' as const) : ('own' as const), clientsTotal: visible.length };
  let listed = Math.min(visible.length, MAX_CLIENTS_LISTED);
  for (;;) {
    const now = Date.now();
    const clients = visible.slice(0, listed).map((connection) => clientEntry(sources, connection, now));
    const body = encodeBody({ kind: MessageKind.Stats, token, stats: { ...stats, clientsTruncated: listed < visible.length, clients } });
    if (body.length <= maxBytes || listed === 0) return body;
    listed = Math.floor(listed / 2);
  }
}

/** Everything but the lists of users and clients. */
function counters(sources: StatsSources): Omit<BrokerStats, 'users' | 'clientsListed' | 'clientsTotal' | 'clientsTruncated' | 'clients'> {
  const { counters } = sources;
  const retained = sources.retained();
  return {
    server: sources.serverName,
    pid: process.pid,
    socket: sources.socketPath(),
    socketProblem: sources.socketProblem(),
    uptimeSeconds: Math.round((Date.now() - sources.startedAt) / 1000),
    connections: sources.connections.size,
    connectionsTotal: counters.connectionsTotal,
    connectionsRefused: counters.connectionsRefused,
    acceptFailures: sources.acceptFailures(),
    subscriptions: sources.subscriptions(),
    messagesIn: counters.messagesIn,
    bytesIn: counters.bytesIn,
    messagesOut: counters.messagesOut,
    bytesOut: counters.bytesOut,
    dropped: counters.dropped,
    errors: counters.errors,
    denied: counters.denied,
    requests: counters.requests,
    noResponders: counters.noResponders,
    replies: counters.replies,
    repliesUndeliverable: counters.repliesUndeliverable,
    repliesRefused: counters.repliesRefused,
    pendingRequests: sources.pendingRequests(),
    retained: retained.count,
    retainedBytes: retained.bytes,
    retainedRefused: counters.retainedRefused,
    memoryBytes: sources.memory.totalBytes,
    memoryLimitBytes: sources.memory.limits.maxMemoryBytes,
    accessPolicy: sources.policySource(),
    ...sources.sections(),
  };
}

/** One row per user with something at the broker: what its clients hold against its share, and what it lost. */
function users(sources: StatsSources, seesEveryone: boolean, ownUid: number | undefined): UserEntry[] {
  const rows: UserEntry[] = [];
  for (const account of sources.memory.all()) {
    if (!seesEveryone && account.uid !== ownUid) continue;
    if (account.connections === 0 && account.usedBytes === 0) continue;
    rows.push({
      uid: account.uid,
      user: account.user,
      connections: account.connections,
      subscriptions: account.subscriptions,
      memoryBytes: account.usedBytes,
      memoryShareBytes: account.limitBytes,
      dropped: account.dropped,
      refused: account.refused,
    });
  }
  return rows;
}

/**
 * One client's row: its identity as presence gives it (without credentials,
 * no uid keys at all), then the rest set field by field on that one object,
 * as a spread per row made answers several times dearer.
 */
function clientEntry(sources: StatsSources, connection: Connection, now: number): ClientEntry {
  const { counters } = connection;
  const row = presenceOf(connection) as ClientEntry;
  row.subscriptions = sources.subscriptionsOf(connection);
  row.messagesIn = counters.messagesIn;
  row.messagesOut = counters.messagesOut;
  row.dropped = counters.dropped;
  row.denied = counters.denied;
  row.pendingBytes = connection.pendingBytes;
  row.connectedSeconds = Math.round((now - connection.connectedAt) / 1000);
  return row;
}

