import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync, type Stats } from 'node:fs';
import net from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { assertSocketPathFits, ErrorCode, SockbusError } from '../protocol/index.js';
import { listen } from './listen.js';
import type { Logger } from './log.js';
import { describeUser } from './safe-path.js';

/**
 * Keeps two brokers of one user that start together on one socket path from
 * both deciding its file is stale and removing each other's socket.
 *
 * The lock must be one no other user can take or fake. An abstract socket
 * name (the earlier lock) can be bound first by anyone, which stopped root's
 * broker on any path. So the lock lives in a directory only the broker's
 * user can write, `.sockbus-lock-UID` beside the socket (mode 0700), as
 * sockets the kernel stops answering on when their broker dies, even by
 * SIGKILL: the entry `NAME.N` for the socket NAME, the lowest N not held.
 *
 * An entry is only ever created by link(2) of a socket already listening,
 * which fails if the name exists, so it is never seen half-made. A broker
 * walks N = 0, 1, ...: a free name it links; an entry that answers is a
 * live broker (refuse); one that does not is a dead broker's, skipped. Two
 * brokers walking together meet at the same free name and only one link
 * succeeds. After linking, a broker looks at every other entry and refuses
 * if one answers; only then does it remove dead entries, which keeps the
 * directory small, and the holes it leaves are safe because whoever fills
 * one sees the live holder on that look.
 *
 * Beside a socket in a shared sticky directory (/tmp), another user may
 * have made the directory first. Root takes it back (owner root, mode
 * 0700: its owner can then no longer add or remove entries); another user's
 * broker cannot, and starts without the lock, saying so. Unguarded, it
 * still never replaces a socket that answers; only two brokers started at
 * the same moment on a stale socket could race.
 */
export class StartLock {
  private constructor(
    private readonly server: net.Server,
    private readonly entry: string,
    private readonly identity: Stats,
  ) {}

  /** The lock for `socketPath`, or null when it cannot be had safely (logged). Throws BROKER_ALREADY_RUNNING when a broker holds it. */
  static async acquire(socketPath: string, log: Logger): Promise<StartLock | null> {
    const directory = join(dirname(resolve(socketPath)), `.sockbus-lock-${process.geteuid?.() ?? 'any'}`);
    const name = basename(socketPath);
    const temporary = join(directory, `${name}.t${randomBytes(6).toString('hex')}`);
    const unusable = lockDirectoryProblem(directory, log) ?? pathTooLong(temporary);
    if (unusable) {
      log.warn(
        `cannot use the start lock directory ${directory}: ${unusable}; starting without the start lock, ` +
          `so a second broker started at this same moment on ${socketPath} could race this one (a socket that answers is still never replaced)`,
      );
      return null;
    }
    const server = net.createServer((socket) => socket.destroy());
    await listen(server, temporary);
    server.unref();
    const identity = lstatSync(temporary);
    try {
      const entry = await linkLowestFree(directory, name, temporary, socketPath);
      try {
        unlinkSync(temporary);
        if (await anotherAnswers(directory, name, entry)) throw anotherBroker(socketPath);
      } catch (error) {
        unlinkIfSame(entry, identity);
        throw error;
      }
      await removeDeadEntries(directory, name);
      return new StartLock(server, entry, identity);
    } catch (error) {
      unlinkIfSame(temporary, identity);
      server.close();
      throw error;
    }
  }

  release(): void {
    unlinkIfSame(this.entry, this.identity);
    this.server.close();
  }
}

/** Links the listening socket at `temporary` as the lowest free `NAME.N`; throws if a live broker holds one on the way. */
async function linkLowestFree(directory: string, name: string, temporary: string, socketPath: string): Promise<string> {
  let retries = 0;
  for (let index = 0; ; index++) {
    const entry = join(directory, `${name}.${index}`);
    try {
      linkSync(temporary, entry);
      return entry;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const state = await entryState(entry);
    if (state === 'live') throw anotherBroker(socketPath);
    // Removed as dead by the holder meanwhile: try that name again.
    if (state === 'gone' && ++retries < 100) index--;
  }
}

/** Whether any entry but `own` answers: a broker that linked before we did. */
async function anotherAnswers(directory: string, name: string, own: string): Promise<boolean> {
  for (const entry of entriesOf(directory, name)) {
    if (entry !== own && (await entryState(entry)) === 'live') return true;
  }
  return false;
}

/** A broker that died between binding and linking left its temporary name; one this old is surely not in use. */
const TEMPORARY_MAX_AGE_MS = 60_000;

/** Removes the entries of brokers that died (and, in a directory root took back, anything its former owner left). */
async function removeDeadEntries(directory: string, name: string): Promise<void> {
  for (const entry of entriesOf(directory, name)) {
    const state = await entryState(entry);
    if (state === 'stale' || state === 'foreign') unlinkIfSame(entry, null);
  }
  const temporaryPattern = /^t[0-9a-f]+$/;
  for (const entry of readdirSync(directory)) {
    if (!entry.startsWith(`${name}.`) || !temporaryPattern.test(entry.slice(name.length + 1))) continue;
    const path = join(directory, entry);
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats && Date.now() - stats.mtimeMs > TEMPORARY_MAX_AGE_MS && (await entryState(path)) !== 'live') unlinkIfSame(path, stats);
  }
}

/** The `NAME.N` entries. */
function entriesOf(directory: string, name: string): string[] {
  return readdirSync(directory)
    .filter((entry) => entry.startsWith(`${name}.`) && /^\d+$/.test(entry.slice(name.length + 1)))
    .map((entry) => join(directory, entry));
}

/** live: a broker answers; stale: a dead broker's; foreign: not a socket of ours; gone: no such entry. */
async function entryState(entry: string): Promise<'live' | 'stale' | 'foreign' | 'gone'> {
  let stats: Stats | undefined;
  try {
    stats = lstatSync(entry, { throwIfNoEntry: false });
  } catch {
    return 'live'; // cannot look: assume a broker, never steal
  }
  if (!stats) return 'gone';
  if (!stats.isSocket() || stats.uid !== process.geteuid?.()) return 'foreign';
  return new Promise((resolvePromise) => {
    const socket = net.connect(entry);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolvePromise('stale');
      else if (error.code === 'ENOENT') resolvePromise('gone');
      // EAGAIN: its backlog is full, so someone listens. Anything else: assume a broker, never steal.
      else resolvePromise('live');
    });
  });
}

/**
 * Makes the lock directory, or says why it cannot be trusted. One that
 * another user made first (possible only in a shared sticky directory) root
 * takes back through a descriptor opened without following links.
 */
function lockDirectoryProblem(directory: string, log: Logger): string | null {
  const ownUid = process.geteuid?.();
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return (error as Error).message;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const stats = lstatSync(directory, { throwIfNoEntry: false });
    if (!stats) return 'it was removed while the broker made it';
    if (!stats.isDirectory()) return `it is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'} of ${describeUser(stats.uid)}`;
    if (stats.uid === ownUid && (stats.mode & 0o077) === 0) return null;
    if (ownUid !== 0 && stats.uid !== ownUid) return `it belongs to ${describeUser(stats.uid)}, another user, who could add or remove entries in it`;
    takeBack(directory);
    if (stats.uid !== ownUid) log.warn(`the start lock directory ${directory} belonged to ${describeUser(stats.uid)}; took it back (owner root, mode 0700)`);
  }
  return 'it kept changing while the broker took it back';
}

function takeBack(directory: string): void {
  let fd: number;
  try {
    fd = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return; // replaced meanwhile: the next look says by what
  }
  try {
    if (!fstatSync(fd).isDirectory()) return;
    fchownSync(fd, process.geteuid?.() ?? 0, process.getegid?.() ?? 0);
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

function pathTooLong(path: string): string | null {
  try {
    assertSocketPathFits(path, process.platform);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Unlinks `path` if it is still the file `identity` names (or whatever is there, given null). */
function unlinkIfSame(path: string, identity: Stats | null): void {
  try {
    const current = lstatSync(path);
    if (identity && (current.dev !== identity.dev || current.ino !== identity.ino)) return;
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}

function anotherBroker(path: string): SockbusError {
  return new SockbusError(ErrorCode.BrokerAlreadyRunning, `another broker is listening on ${path}`);
}
