import { stat } from 'node:fs/promises';

/** Device and inode of the file at `path`, or null when there is none. */
export async function socketFileIdentity(path: string): Promise<string | null> {
  try {
    const file = await stat(path);
    return `${file.dev}:${file.ino}`;
  } catch {
    return null;
  }
}

/** How often a reconnecting client looks for a new socket file while it waits. */
export const SOCKET_POLL_MS = 25;

/**
 * Why polling and not fs.watch: the socket usually lives in /tmp, where a
 * directory watch wakes on every unrelated file, inotify watches are a
 * limited per-user resource, and some file systems do not report at all.
 * One stat() every 25 ms costs next to nothing, and a client whose backoff
 * has grown to seconds still connects within ~25 ms of a broker restart.
 * The backoff still spaces out attempts while the same dead file sits
 * there, and the poll phases differ per client, so a restart does not
 * bring every client back in the same millisecond.
 */
export function socketFileChanged(current: string | null, failed: string | null): boolean {
  return current !== null && current !== failed;
}
