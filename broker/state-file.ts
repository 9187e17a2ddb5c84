import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, SockbusError } from '../protocol/index.js';
import type { Logger } from './log.js';
import type { RetainedEntry } from './retained-store.js';
import { describeUser, unsafePathReason } from './safe-path.js';
import { decodeState, encodeStateParts } from './state-format.js';

/** Least time between two writes of the state file. */
const MIN_SAVE_INTERVAL_MS = 1000;

/**
 * Keeps the retained values in the `--state` file. Each save writes a
 * temporary file, syncs it, and renames it over the old one, so a crash
 * leaves either the old state or the new one, never half of each. Saves
 * coalesce: a burst of changes costs one write, one write runs at a time,
 * and writes are at least a second apart.
 */
export class StateFile {
  private saving: Promise<void> | null = null;
  private dirty = false;
  private lastWriteAt = 0;
  /** Ends the wait between two writes early, when the broker is shutting down. */
  private hurry: (() => void) | null = null;
  private flushing = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly snapshot: () => Iterable<RetainedEntry>,
  ) {}

  /**
   * The saved values; none when there is no file yet. A corrupt file is set
   * aside and reported, not fatal; a file another user could have written
   * (or that is not a plain file: a FIFO would block the read forever) is
   * refused, which stops the broker at start.
   */
  async load(): Promise<RetainedEntry[]> {
    assertSafeDirectories(this.path);
    let bytes: Buffer | null;
    try {
      bytes = await readOwnFile(this.path);
    } catch (error) {
      throw new SockbusError(ErrorCode.StateFileUnusable, `cannot read the state file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    if (bytes === null) return [];
    try {
      return decodeState(bytes);
    } catch (error) {
      const aside = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(this.path, aside);
      this.log.warn(`the state file ${this.path} is corrupt (${(error as Error).message}); moved it to ${aside} and started with no retained values`);
      return [];
    }
  }

  /** Saves now, throwing why it cannot: at start, so a state file that cannot be written stops the broker, not a later save. */
  async saveNow(): Promise<void> {
    try {
      await this.write();
    } catch (error) {
      throw new SockbusError(ErrorCode.StateFileUnusable, `cannot write the state file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Asks for the current state to be saved soon. */
  requestSave(): void {
    this.dirty = true;
    this.saving ??= this.saveWhileDirty();
  }

  /** Resolves once every change requested so far is on disk (or its save failed and was reported); saves at once. */
  async flush(): Promise<void> {
    this.flushing = true;
    this.hurry?.();
    while (this.saving) await this.saving;
  }

  private async saveWhileDirty(): Promise<void> {
    try {
      // Let the rest of this burst of changes land first.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.dirty) {
        await this.spacing();
        this.dirty = false;
        this.lastWriteAt = Date.now();
        await this.write();
      }
    } catch (error) {
      this.log.error(`could not save retained values to ${this.path}: ${(error as Error).message}; will try again on the next change`);
    } finally {
      this.saving = null;
    }
  }

  /**
   * Waits until a second has passed since the last write began: a client
   * re-retaining a value in a loop costs one write a second, not one per
   * change, however large the state (the whole file is rewritten each time).
   */
  private spacing(): Promise<void> {
    const wait = this.lastWriteAt + MIN_SAVE_INTERVAL_MS - Date.now();
    if (wait <= 0 || this.flushing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.hurry?.(), wait);
      this.hurry = () => {
        clearTimeout(timer);
        this.hurry = null;
        resolve();
      };
    });
  }

  private async write(): Promise<void> {
    const reason = unsafePathReason(this.path, 'the state file');
    if (reason) throw new Error(reason);
    await writeAtomically(this.path, encodeStateParts(this.snapshot(), new Date()));
  }
}

/** The same directory rules as the socket's (safe-path.ts): otherwise another user could swap the file between saves. */
function assertSafeDirectories(path: string): void {
  const reason = unsafePathReason(path, 'the state file');
  if (reason) throw new SockbusError(ErrorCode.StateFileUnusable, `refusing to keep state in ${path}: ${reason}`);
}

/**
 * The file's bytes, or null when there is none. Opened without following a
 * symbolic link and without blocking (a FIFO would otherwise hang the read),
 * then judged by fstat of what was opened: a regular file of the broker's
 * user that neither group nor others may write, or another user could have
 * planted values (stamped with any sender) or read what the ACL withholds.
 */
async function readOwnFile(path: string): Promise<Buffer | null> {
  const before = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (before === null) return null;
  // Checked before opening too: opening a device or a socket could itself do harm or fail unclearly.
  const refusal = untrustedFileReason(before);
  if (refusal) throw new Error(refusal);
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const opened = await file.stat();
    const replaced = untrustedFileReason(opened);
    if (replaced) throw new Error(replaced);
    return await file.readFile();
  } finally {
    await file.close();
  }
}

/** Why the file at the state path must not be read or replaced, or null when it is the broker's own. */
function untrustedFileReason(stats: Stats): string | null {
  if (stats.isSymbolicLink()) return 'it is a symbolic link; refusing to follow it (remove it yourself if it is not needed)';
  if (!stats.isFile()) return `it is ${kindOf(stats)}, not a regular file; refusing to use it (remove it yourself if it is not needed)`;
  const ownUid = process.geteuid?.();
  if (ownUid !== undefined && stats.uid !== ownUid) {
    return `it belongs to ${describeUser(stats.uid)}, not to the broker's user (${describeUser(ownUid)}); refusing to trust the values in it`;
  }
  if ((stats.mode & 0o022) !== 0) {
    const who = (stats.mode & 0o002) !== 0 ? 'anyone' : 'its group';
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    return `it is writable by ${who} (mode ${mode}), so others could have changed the values in it; refusing to trust them`;
  }
  return null;
}

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return stats.isFile() ? 'a regular file' : 'a special file';
}

/**
 * Writes through a temporary file created exclusively (O_EXCL|O_NOFOLLOW)
 * under a random name, mode 0600: a name someone could predict could be
 * pre-created as a symlink (root then writes where it points), as their own
 * file (which then becomes the state file, theirs to read and edit) or as a
 * FIFO (the open never returns). The rename replaces only a file of the
 * broker's own; it never writes into whatever is at the path.
 */
async function writeAtomically(path: string, parts: Buffer[]): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(12).toString('hex')}`;
  const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await writeAll(file, parts);
    await file.sync();
    await file.close();
    await assertReplaceable(path);
    await rename(temporary, path);
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  // The rename itself must survive a power cut too.
  const directory = await open(dirname(path), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** Writes the parts in order, a bounded number per call, so no single buffer of the whole file is made. */
async function writeAll(file: FileHandle, parts: Buffer[]): Promise<void> {
  const PARTS_PER_WRITE = 1024;
  for (let start = 0; start < parts.length; start += PARTS_PER_WRITE) {
    const batch = parts.slice(start, start + PARTS_PER_WRITE);
    const expected = batch.reduce((total, part) => total + part.length, 0);
    let { bytesWritten } = await file.writev(batch);
    // A short write (rare on files) leaves the rest of the batch to write as one.
    if (bytesWritten < expected) {
      const rest = Buffer.concat(batch).subarray(bytesWritten);
      for (let offset = 0; offset < rest.length; offset += bytesWritten) ({ bytesWritten } = await file.write(rest, offset));
    }
  }
}

/** Throws unless the path is free or holds the broker's own regular file (one a /tmp cleaner removed may since have been replaced by another user). */
async function assertReplaceable(path: string): Promise<void> {
  const current = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (current === null) return;
  const ownUid = process.geteuid?.();
  const foreign = ownUid !== undefined && current.uid !== ownUid;
  if (current.isFile() && !foreign) return;
  throw new Error(`${path} is now ${kindOf(current)} owned by ${describeUser(current.uid)}, not the broker's own file; refusing to replace it (remove it yourself if it is not needed)`);
}
