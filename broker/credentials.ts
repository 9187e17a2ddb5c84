import type net from 'node:net';
import { loadNativeAddon, socketDescriptor, type NativeAddon } from '../client/native-addon.js';

/** What the kernel reports about the process at the other end of a connection. */
export interface PeerCredentials {
  uid: number;
  /** The process's group and, where the kernel reports them (Linux SO_PEERGROUPS), its supplementary groups. */
  gid: number;
  groups: number[];
  /** Null where the platform cannot tell (getpeereid). */
  pid: number | null;
  /** From the user database; null for a uid it does not know. */
  user: string | null;
}

/**
 * Peer credentials through the native addon, and the user and group
 * lookups that go with them. When the addon is missing the broker still
 * runs: `available` is false and `unavailableReason` says why.
 */
export class CredentialReader {
  private readonly userNames = new Map<number, string | null>();

  private constructor(
    private readonly addon: NativeAddon | null,
    readonly unavailableReason: string | null,
  ) {}

  static load(): CredentialReader {
    const { addon, unavailableReason } = loadNativeAddon();
    return new CredentialReader(addon, unavailableReason);
  }

  get available(): boolean {
    return this.addon !== null;
  }

  /**
   * The peer's credentials, or null without the addon or when the socket has
   * no descriptor. Throws when the kernel's answer cannot be read in full
   * (groups included): the caller must refuse the peer, not serve it as one
   * with no groups.
   */
  of(socket: net.Socket): PeerCredentials | null {
    const fd = socketDescriptor(socket);
    if (!this.addon || fd === null) return null;
    const { uid, gid, pid, groups } = this.addon.peerCredentials(fd);
    return { uid, gid, groups, pid: pid >= 0 ? pid : null, user: this.userName(uid) };
  }

  /** Raises the soft limit on open files to the hard one; the soft limit then, or null without the addon. */
  raiseFileLimit(): number | null {
    return this.addon?.raiseFileLimit().soft ?? null;
  }

  userName(uid: number): string | null {
    if (!this.userNames.has(uid)) this.userNames.set(uid, this.addon?.userName(uid) ?? null);
    return this.userNames.get(uid)!;
  }

  userId(name: string): number | null {
    return this.addon?.userId(name) ?? null;
  }

  groupId(name: string): number | null {
    return this.addon?.groupId(name) ?? null;
  }
}
