/**
 * The stats answer, `[13, token, counters]` (PROTOCOL.md §3.11): the one
 * definition of its keys, for the broker that builds it, the client that
 * returns it, and the CLI and monitor that show it. test/protocol/stats-schema
 * checks these interfaces against §3.11's tables and a live broker's answer.
 */

/** Who is on a connection: the head of its stats row and the data of `$SYS.client.*` (§3.15). */
export interface ClientIdentity {
  id: number;
  name: string;
  /** From the kernel's peer credentials; absent, with user and pid, when the broker has none. */
  uid?: number;
  /** Null for a uid the user database does not know. */
  user?: string | null;
  /** Null where the platform cannot tell. */
  pid?: number | null;
}

/** One connection's row of `clients`. */
export interface ClientEntry extends ClientIdentity {
  subscriptions: number;
  messagesIn: number;
  messagesOut: number;
  dropped: number;
  /** Publishes and subscribes the access policy refused. */
  denied: number;
  pendingBytes: number;
  connectedSeconds: number;
}

/** One user's row of `users`: what its clients hold against its memory share, and what they lost. */
export interface UserEntry {
  /** Null for the peers of unknown identity, who share one account. */
  uid: number | null;
  user: string | null;
  connections: number;
  subscriptions: number;
  memoryBytes: number;
  memoryShareBytes: number;
  dropped: number;
  refused: number;
}

/** What the NATS bridge counts. */
export interface BridgeCounters {
  exported: number;
  imported: number;
  /** Local messages matching an export that could not be sent: NATS was down or refused them. */
  notForwarded: number;
  /** NATS messages that could not be delivered locally (a subject sockbus refuses, such as `$SYS.`). */
  notImported: number;
  /** NATS messages the access policy's `bridge` entry does not let the bridge publish here. */
  importsDenied: number;
  reconnects: number;
}

/** The NATS bridge's section, present when the broker runs with `--bridge`. */
export interface BridgeStats extends BridgeCounters {
  url: string;
  connected: boolean;
  exports: string[];
  imports: string[];
  prefix: string | null;
}

export interface BrokerStats {
  server: string;
  pid: number;
  socket: string;
  socketProblem: string | null;
  uptimeSeconds: number;
  connections: number;
  connectionsTotal: number;
  connectionsRefused: number;
  acceptFailures: number;
  subscriptions: number;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  dropped: number;
  errors: number;
  denied: number;
  requests: number;
  noResponders: number;
  replies: number;
  repliesUndeliverable: number;
  repliesRefused: number;
  pendingRequests: number;
  retained: number;
  retainedBytes: number;
  retainedRefused: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  accessPolicy: string;
  bridge?: BridgeStats;
  users: UserEntry[];
  clientsListed: 'all' | 'own';
  clientsTotal: number;
  clientsTruncated: boolean;
  clients: ClientEntry[];
}
