import { createRequire } from 'node:module';
import type net from 'node:net';

/**
 * The node-api addon (broker/native/credentials.c) that asks the kernel who
 * is at the other end of a Unix socket and looks users and groups up. The
 * broker reads its clients with it, and the client library its broker, so
 * the loader lives here, where both can import it.
 */
export interface NativeAddon {
  /** With the supplementary groups (SO_PEERGROUPS); throws when any of it cannot be read. */
  peerCredentials(fd: number): { uid: number; gid: number; pid: number; groups: number[] };
  /** Without the groups: what a client needs to know about its broker. */
  peerProcess(fd: number): { uid: number; gid: number; pid: number };
  userName(uid: number): string | null;
  userId(name: string): number | null;
  groupId(name: string): number | null;
  /** Asks for a send buffer of `bytes` on a socket (0: only read it); the most the kernel will then hold. */
  sendBuffer(fd: number, bytes: number): number;
  /** Raises the soft limit on open files to the hard one; the limits as they are then. */
  raiseFileLimit(): { soft: number; hard: number };
}

/** Built by node-gyp at install (binding.gyp); relative to dist/client/. */
const ADDON_PATH = '../../build/Release/sockbus_native.node';

export type LoadedAddon = { addon: NativeAddon; unavailableReason: null } | { addon: null; unavailableReason: string };

let loaded: LoadedAddon | null = null;

/** Loads the addon once per process; when it is missing, says why instead. */
export function loadNativeAddon(): LoadedAddon {
  if (loaded) return loaded;
  try {
    loaded = { addon: createRequire(import.meta.url)(ADDON_PATH) as NativeAddon, unavailableReason: null };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'the native addon was not built' : (error as Error).message;
    loaded = { addon: null, unavailableReason: reason };
  }
  return loaded;
}

/** The socket's descriptor, or null when it has none (not connected, or already closed). */
export function socketDescriptor(socket: net.Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * Asks for a kernel send buffer of `bytes` on a connected socket (0: only
 * asks what it is) and returns what the kernel then holds at most; null
 * when the addon is missing, the socket has no descriptor, or the kernel
 * refused: the default buffer then serves. A publisher's default of about
 * 200 KiB makes it wait on the broker in small steps (bench (a)).
 */
export function socketSendBuffer(socket: net.Socket, bytes: number): number | null {
  const { addon } = loadNativeAddon();
  const fd = socketDescriptor(socket);
  if (!addon || fd === null) return null;
  try {
    return addon.sendBuffer(fd, bytes);
  } catch {
    return null;
  }
}
