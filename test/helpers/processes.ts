import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { waitFor } from './wait.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BROKER_BIN = join(PROJECT_ROOT, 'dist/broker/main.js');
export const CLI_BIN = join(PROJECT_ROOT, 'dist/cli/main.js');

/** A child process with its output collected and its exit observable. */
export class Child {
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(readonly process: ChildProcess) {
    process.stdout?.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    process.stderr?.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has all of the child's output been read.
      process.once('close', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
      // A program that cannot even start (EACCES, ENOENT) never exits: say why instead.
      process.once('error', (error) => {
        this.stderr += `spawn failed: ${error.message}`;
        this.exitCode = -1;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.signal === null;
  }

  /** Waits for the process to end, failing after the deadline. */
  async waitForExit(timeoutMs = 15_000): Promise<void> {
    await waitFor(() => !this.running, `process ${this.pid} (${this.process.spawnargs.join(' ')}) to exit`, timeoutMs);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.process.kill(signal);
    await this.waitForExit();
  }
}

const started = new Set<Child>();
const directories = new Set<string>();

/** Starts a node script; the child is killed after the test if still running. */
export function spawnNode(script: string, args: string[], options: SpawnOptions = {}): Child {
  return track(new Child(spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options })));
}

/** Has a child killed after the test if it is still running. */
export function track(child: Child): Child {
  started.add(child);
  return child;
}

/** A fresh directory for one test, removed after it. */
export function makeTempDir(mode = 0o700): string {
  const directory = mkdtempSync(join(tmpdir(), 'sockbus-test-'));
  chmodSync(directory, mode);
  directories.add(directory);
  return directory;
}

afterEach(async () => {
  // Only the processes this test started, by their own handles.
  await Promise.all([...started].map((child) => child.kill()));
  started.clear();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  directories.clear();
});
