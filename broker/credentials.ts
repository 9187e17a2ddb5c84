import { createRequire } from 'node:module';
import type net from 'node:net';

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

interface NativeAddon {
  peerCredentials(fd: number): { uid: number; gid: number; pid: number; groups: number[] };
  userName(uid: number): string | null;
  userId(name: string): number | null;
  groupId(name: string): number | null;
}

/** Built by node-gyp at install (binding.gyp); relative to dist/broker/. */
const ADDON_PATH = '../../build/Release/sockbus_native.node';

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
    try {
      return new CredentialReader(createRequire(import.meta.url)(ADDON_PATH) as NativeAddon, null);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'the native addon was not built' : (error as Error).message;
      return new CredentialReader(null, reason);
    }
  }

  get available(): boolean {
    return this.addon !== null;
  }

  /** The peer's credentials, or null without the addon or when the socket has no descriptor. */
  of(socket: net.Socket): PeerCredentials | null {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (!this.addon || typeof fd !== 'number' || fd < 0) return null;
    const { uid, gid, pid, groups } = this.addon.peerCredentials(fd);
    return { uid, gid, groups, pid: pid >= 0 ? pid : null, user: this.userName(uid) };
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
