import type net from 'node:net';
import { ErrorCode, ProtocolError, SenderStamp, SockbusError, type Sender } from '../protocol/index.js';
import { AccessPolicy } from './access-policy.js';
import type { Connection } from './connection.js';
import type { CredentialReader } from './credentials.js';
import type { Logger } from './log.js';
import type { BrokerOptions } from './options.js';
import { PolicyFile } from './policy-file.js';

/**
 * Who is on each connection and what it may do: asks the kernel for the
 * peer's credentials, gives the connection its access rules and sender
 * stamp, keeps the per-uid connection count, and owns the access policy and
 * its reloading.
 */
export class Gatekeeper {
  /** The broker's own events carry its credentials, when it can tell them to others. */
  readonly ownSender: Sender | undefined;
  private readonly perUid = new Map<number, number>();
  private readonly policyFile: PolicyFile | null;
  private policy: AccessPolicy;

  /** Throws when the policy file cannot be used: the broker must not start without the policy it was given. */
  constructor(
    private readonly options: BrokerOptions,
    private readonly credentials: CredentialReader,
    private readonly log: Logger,
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
   * Asks the kernel who is on the other end: the access rules and the sender
   * stamp follow from it. When the kernel's answer cannot be read (its
   * supplementary groups, say), the connection is refused: served as a peer
   * with no groups, it would escape the policy's group deny rules.
   */
  identify(connection: Connection, client: net.Socket): void {
    try {
      connection.credentials = this.credentials.of(client);
    } catch (error) {
      connection.access = this.policy.accessFor(null);
      connection.fail(
        new ProtocolError(
          ErrorCode.CredentialsUnavailable,
          `the broker cannot read this connection's credentials from the kernel (${(error as Error).message}), so it refuses the connection rather than apply its access policy without them`,
        ),
      );
      return;
    }
    const { credentials } = connection;
    connection.access = this.policy.accessFor(credentials);
    if (credentials) connection.stamp = new SenderStamp({ uid: credentials.uid, pid: credentials.pid });
  }

  /** Why a new connection may not be served, or null; `open` is how many are served now. */
  admissionRefusal(connection: Connection, open: number): string | null {
    const { maxConnections, maxConnectionsPerUid } = this.options.limits;
    if (open >= maxConnections) {
      return `the broker already serves ${maxConnections} connections, the most it allows (--max-connections)`;
    }
    const uid = connection.credentials?.uid;
    if (uid !== undefined && (this.perUid.get(uid) ?? 0) >= maxConnectionsPerUid) {
      return `${connection.access.who} already has ${maxConnectionsPerUid} connections, the most the broker allows one user (--max-connections-per-uid)`;
    }
    return null;
  }

  admitted(connection: Connection): void {
    const uid = connection.credentials?.uid;
    if (uid !== undefined) this.perUid.set(uid, (this.perUid.get(uid) ?? 0) + 1);
  }

  released(connection: Connection): void {
    const uid = connection.credentials?.uid;
    if (uid !== undefined) this.perUid.set(uid, this.perUid.get(uid)! - 1);
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
    for (const connection of connections) connection.access = this.policy.accessFor(connection.credentials);
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
