import { stat } from 'node:fs/promises';

/**
 * Device, inode and change time of the file at `path`, or null when there
 * is none. A new socket file often gets the inode its predecessor had, so
 * the change time is what tells a restarted broker's file from the old one.
 */
export async function socketFileIdentity(path: string): Promise<string | null> {
  try {
    const file = await stat(path, { bigint: true });
    return `${file.dev}:${file.ino}:${file.ctimeNs}`;
  } catch {
    return null;
  }
}

/** How often a reconnecting client looks for a new socket file while it waits. */
export const SOCKET_POLL_MS = 25;

/** The most a client waits to dial once a new socket file appears (PROTOCOL.md §8). */
export const SOCKET_APPEARED_JITTER_MS = 100;

/** How long to wait, once a new socket file appears, before dialling: uniform in [0, 100) ms. */
export function socketAppearedDelay(random: () => number = Math.random): number {
  return Math.floor(random() * SOCKET_APPEARED_JITTER_MS);
}

/**
 * Why polling and not fs.watch: the socket usually lives in /tmp, where a
 * directory watch wakes on every unrelated file, inotify watches are a
 * limited per-user resource, and some file systems do not report at all.
 * One stat() every 25 ms costs next to nothing, and a client whose backoff
 * has grown to seconds still connects within ~125 ms of a broker restart.
 * The backoff still spaces out attempts while the same dead file sits
 * there; when a new file appears, each client waits its own random delay
 * below 100 ms, so a thousand clients arrive over a tenth of a second
 * rather than in one millisecond.
 */
export function socketFileChanged(current: string | null, failed: string | null): boolean {
  return current !== null && current !== failed;
}
