import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { CredentialReader } from './credentials.js';

/** Linux's limit on symbolic links followed in one lookup (MAXSYMLINKS), so a loop ends with a clear error. */
const MOST_SYMLINKS = 40;

let credentials: CredentialReader | null = null;

/** `sockbus-bob (uid 998)`, with `, pid 1234` when given; `uid 998` alone when the user database does not know it. */
export function describeUser(uid: number, pid: number | null = null): string {
  credentials ??= CredentialReader.load();
  const name = credentials.userName(uid);
  const ids = pid === null ? `uid ${uid}` : `uid ${uid}, pid ${pid}`;
  return name === null ? ids : `${name} (${ids})`;
}

/**
 * Why another user could replace or redirect a file the broker keeps at
 * `path` (`what`: "the socket", "the state file"), or null when no one but
 * root and the broker's user can. Every directory above it must belong to
 * root or the broker's user and must not be writable by group or others
 * unless sticky (as /tmp is). The path is walked one component at a time
 * with lstat, never following a symbolic link unchecked: a link is accepted
 * only if root or the broker's user owns it, since whoever owns a link can
 * re-point it after this check (in a sticky directory, only its owner can
 * replace it), and its target is then walked the same way. Components that
 * do not exist yet are the broker's to create.
 */
export function unsafePathReason(path: string, what: string): string | null {
  const ownUid = process.geteuid?.();
  if (ownUid === undefined) return null;
  const trusted = (uid: number) => uid === 0 || uid === ownUid;
  const pending = componentsOf(dirname(resolve(path)));
  let directory: string = sep;
  let linksFollowed = 0;
  for (;;) {
    const problem = directoryProblem(directory, what, trusted);
    if (problem) return problem;
    const component = pending.shift();
    if (component === undefined) return null;
    if (component === '.') continue;
    if (component === '..') {
      directory = dirname(directory);
      continue;
    }
    const next = join(directory, component);
    const stats = examine(next);
    if (typeof stats === 'string') return stats;
    if (!stats) return null; // not created yet: it will be the broker's own
    if (!stats.isSymbolicLink()) {
      if (!stats.isDirectory()) return `${next} is not a directory`;
      directory = next;
      continue;
    }
    if (!trusted(stats.uid)) {
      return `${next} is a symbolic link owned by ${describeUser(stats.uid)}, another user, who could re-point it at a directory of their own`;
    }
    if (++linksFollowed > MOST_SYMLINKS) return `${next}: more than ${MOST_SYMLINKS} symbolic links on the way`;
    const target = readlinkSync(next);
    pending.unshift(...componentsOf(target));
    if (isAbsolute(target)) directory = sep;
  }
}

/** The directory's own problem, if it belongs to another user or others may write to it. */
function directoryProblem(directory: string, what: string, trusted: (uid: number) => boolean): string | null {
  const stats = examine(directory);
  if (typeof stats === 'string') return stats;
  if (!stats) return null; // removed since it was walked: the next check sees what replaced it
  if (!trusted(stats.uid)) return `${directory} belongs to uid ${stats.uid}, another user, who could replace ${what}`;
  if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
    const who = (stats.mode & 0o002) !== 0 ? 'anyone' : 'its group';
    return `${directory} is writable by ${who} and not sticky, so others could replace ${what}`;
  }
  return null;
}

/** lstat, with a reason instead of an exception when the broker may not look (EACCES). */
function examine(path: string): Stats | undefined | string {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    return `${path} cannot be examined: ${(error as Error).message}`;
  }
}

function componentsOf(path: string): string[] {
  return path.split(sep).filter((component) => component !== '');
}
