import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, SockbusError } from '../protocol/index.js';
import type { Logger } from './log.js';
import type { RetainedEntry } from './retained-store.js';
import { decodeState, encodeState } from './state-format.js';

/**
 * Keeps the retained values in the `--state` file. Each save writes a
 * temporary file, syncs it, and renames it over the old one, so a crash
 * leaves either the old state or the new one, never half of each. Saves
 * coalesce: a burst of changes costs one write, and one write runs at a time.
 */
export class StateFile {
  private saving: Promise<void> | null = null;
  private dirty = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly snapshot: () => Iterable<RetainedEntry>,
  ) {}

  /** The saved values; none when there is no file yet. A corrupt file is set aside and reported, not fatal. */
  async load(): Promise<RetainedEntry[]> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SockbusError(ErrorCode.StateFileUnusable, `cannot read the state file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
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
      await writeAtomically(this.path, encodeState(this.snapshot(), new Date()));
    } catch (error) {
      throw new SockbusError(ErrorCode.StateFileUnusable, `cannot write the state file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Asks for the current state to be saved soon. */
  requestSave(): void {
    this.dirty = true;
    this.saving ??= this.saveWhileDirty();
  }

  /** Resolves once every change requested so far is on disk (or its save failed and was reported). */
  async flush(): Promise<void> {
    while (this.saving) await this.saving;
  }

  private async saveWhileDirty(): Promise<void> {
    try {
      // Let the rest of this burst of changes land first.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.dirty) {
        this.dirty = false;
        await writeAtomically(this.path, encodeState(this.snapshot(), new Date()));
      }
    } catch (error) {
      this.log.error(`could not save retained values to ${this.path}: ${(error as Error).message}; will try again on the next change`);
    } finally {
      this.saving = null;
    }
  }
}

async function writeAtomically(path: string, bytes: Buffer): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await file.close();
  await rename(temporary, path);
  // The rename itself must survive a power cut too.
  const directory = await open(dirname(path), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
