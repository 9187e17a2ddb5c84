import type net from 'node:net';
import { ErrorCode, mebibytes, ProtocolError, SockbusError, type Sender } from '../protocol/index.js';
import { SenderStamp } from './delivery.js';
import { AccessPolicy, type PeerAccess } from './access-policy.js';
import type { Connection, PeerIdentity } from './connection.js';
import { CONNECTION_COST_BYTES, type MemoryBudget } from './memory-budget.js';
import type { CredentialReader, PeerCredentials } from './credentials.js';
import type { Logger } from './log.js';
import type { BrokerOptions } from './options.js';
import { PolicyFile } from './policy-file.js';

/** Refusals of one user closer together than this are one episode, logged once. */
const REFUSAL_EPISODE_MS = 10_000;

/**
 * Who is on each connection and what it may do: asks the kernel for the
 * peer's credentials, gives the connection its access rules, sender stamp
 * and memory account, decides who is admitted (keeping the per-uid
 * connection count), and owns the access policy and its reloading.
 */
export class Gatekeeper {
  /** The broker's own events carry its credentials, when it can tell them to others. */
  readonly ownSender: Sender | undefined;
  private readonly perUid = new Map<number, number>();
  /** When a refused connection of each uid was last seen, so refusals are logged once per episode. */
  private readonly lastRefusalLogged = new Map<number | null, number>();
  /** Connections admitted and not yet gone. */
  private open = 0;
  private readonly policyFile: PolicyFile | null;
  private policy: AccessPolicy;

  /** Throws when the policy file cannot be used: the broker must not start without the policy it was given. */
  constructor(
    private readonly options: BrokerOptions,
    private readonly credentials: CredentialReader,
    private readonly log: Logger,
    private readonly memory: MemoryBudget,
  ) {
    const brokerUid = process.getuid?.() ?? -1;
    this.policyFile = options.aclPath ? new PolicyFile(options.aclPath, credentials, brokerUid) : null;
    this.policy = this.policyFile ? this.policyFile.load() : AccessPolicy.openPolicy(brokerUid);
    this.ownSender = credentials.available ? { uid: brokerUid, pid: process.pid } : undefined;
  }

  /** The policy in force, as stats show it. */
  get policySource(): string {
    return this.policyFile ? this.policyFile.path : 'none (open)';
  }

  /**
   * Asks the kernel who is on the other end: the access rules, the sender
   * stamp and the memory account follow from it. When the kernel's answer
   * cannot be read (its supplementary groups, say), the peer is refused:
   * served as a peer with no groups, it would escape the policy's group
   * deny rules. The refusal comes with the identity of an unknown peer, so
   * the connection can still be told why.
   */
  identify(client: net.Socket): { identity: PeerIdentity; refusal: ProtocolError | null } {
    let credentials: PeerCredentials | null;
    try {
      credentials = this.credentials.of(client);
    } catch (error) {
      const refusal = new ProtocolError(
        ErrorCode.CredentialsUnavailable,
        `the broker cannot read this connection's credentials from the kernel (${(error as Error).message}), so it refuses the connection rather than apply its access policy without them`,
      );
      return { identity: this.identityOf(null), refusal };
    }
    const identity = this.identityOf(credentials);
    return { identity, refusal: this.admissionRefusal(identity) };
  }

  private identityOf(credentials: PeerCredentials | null): PeerIdentity {
    const access = this.accessOf(credentials);
    return {
      credentials,
      access,
      stamp: credentials ? new SenderStamp(this.senderOf(credentials)) : null,
      account: this.memory.accountFor(credentials?.uid ?? null, access.who, credentials?.user ?? null),
    };
  }

  /**
   * The broker's own process on the other end can only be the NATS bridge,
   * which runs inside it: it speaks for whoever reached the NATS server, so
   * it gets the bridge's rights, not the broker's.
   */
  private isBridge(credentials: PeerCredentials | null): boolean {
    return credentials !== null && credentials.pid === process.pid;
  }

  private accessOf(credentials: PeerCredentials | null): PeerAccess {
    return this.isBridge(credentials) ? this.policy.bridgeAccess() : this.policy.accessFor(credentials);
  }

  /** What messages from this peer say about who sent them; the bridge's say they came through it. */
  private senderOf(credentials: PeerCredentials): Sender {
    const sender: Sender = { uid: credentials.uid, pid: credentials.pid };
    if (this.isBridge(credentials)) sender.via = 'bridge';
    return sender;
  }

  /** Whether this peer may see every connection in stats: always without a policy, else with the right to read `$SYS.>`. */
  seesEveryone(connection: Connection): boolean {
    return this.policy.open || connection.access.subscribeRefusal('$SYS.>') === null;
  }

  /**
   * Why a new connection may not be served, or null. Besides the hard
   * limits, the last tenth of the broker's slots is kept for users who hold
   * fewer connections than the average user does: one user (or a few)
   * filling the broker cannot lock out a user who arrives later.
   */
  private admissionRefusal({ credentials, access, account }: PeerIdentity): ProtocolError | null {
    const { maxConnections, maxConnectionsPerUid } = this.options.limits;
    const refuse = (message: string) => new ProtocolError(ErrorCode.TooManyConnections, message);
    if (this.open >= maxConnections) {
      return refuse(`the broker already serves ${maxConnections} connections, the most it allows (--max-connections)`);
    }
    const uid = credentials?.uid;
    const held = uid === undefined ? 0 : (this.perUid.get(uid) ?? 0);
    if (held >= maxConnectionsPerUid) {
      return refuse(`${access.who} already has ${maxConnectionsPerUid} connections, the most the broker allows one user (--max-connections-per-uid)`);
    }
    const reserveStart = maxConnections - Math.floor(maxConnections / 10);
    if (this.open >= reserveStart && held > 0 && held >= this.open / Math.max(1, this.perUid.size)) {
      return refuse(
        `the broker is near its limit of ${maxConnections} connections (--max-connections), and ${access.who} already holds ${held}, ` +
          'more than its fair part: the last slots are kept for users who hold fewer',
      );
    }
    if (!account.hasRoomFor(CONNECTION_COST_BYTES)) {
      account.noteRefused('refused', `a new connection of ${access.who}`);
      return refuse(`${access.who} is at its memory share of ${mebibytes(account.limitBytes)} (--max-memory-per-uid): its clients must read or close connections before it can open more`);
    }
    return null;
  }

  /**
   * Logs a refused connection, naming the user, once per episode: a user
   * hammering the door at its limit makes one line, not one per attempt.
   */
  noteRefusal({ credentials, access }: PeerIdentity, refusal: ProtocolError): void {
    const uid = credentials?.uid ?? null;
    const now = Date.now();
    const last = this.lastRefusalLogged.get(uid);
    this.lastRefusalLogged.set(uid, now);
    if (last !== undefined && now - last < REFUSAL_EPISODE_MS) return;
    this.log.warn(`refused a connection of ${access.who}: ${refusal.code}: ${refusal.message} (logged again after ${REFUSAL_EPISODE_MS / 1000} s without a refusal of this user)`);
  }

  admitted(connection: Connection): void {
    this.open++;
    const uid = connection.credentials?.uid;
    if (uid !== undefined) this.perUid.set(uid, (this.perUid.get(uid) ?? 0) + 1);
  }

  released(connection: Connection): void {
    this.open--;
    const uid = connection.credentials?.uid;
    if (uid === undefined) return;
    const held = this.perUid.get(uid)! - 1;
    if (held === 0) this.perUid.delete(uid);
    else this.perUid.set(uid, held);
  }

  /**
   * Reads the policy file again and gives every connection its new rules.
   * False, with the reason logged, when there is no file or it does not
   * parse: the policy in force then stays.
   */
  reload(connections: Iterable<Connection>): boolean {
    if (!this.policyFile) {
      this.log.info('SIGHUP received; no --acl policy to reload');
      return false;
    }
    try {
      this.policy = this.policyFile.load();
    } catch (error) {
      this.log.error(`${(error as Error).message}; keeping the policy in force`);
      return false;
    }
    for (const connection of connections) connection.reauthorize(this.accessOf(connection.credentials));
    return true;
  }

  /** The gid of --group, given by number or by name. */
  socketGroup(): number | null {
    const { group } = this.options;
    if (group === undefined) return null;
    if (/^\d+$/.test(group)) return Number(group);
    if (!this.credentials.available) {
      throw new SockbusError(ErrorCode.CredentialsUnavailable, `--group ${group}: group names need the native addon (${this.credentials.unavailableReason}); give the numeric gid instead`);
    }
    const gid = this.credentials.groupId(group);
    if (gid === null) throw new SockbusError(ErrorCode.InvalidPolicy, `--group ${group}: no such group on this system`);
    return gid;
  }
}
