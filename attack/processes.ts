import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** One line an agent printed on stdout: `{"event": NAME, ...}`. */
export interface AgentEvent {
  event: string;
  [key: string]: unknown;
}

/**
 * A child process with its output collected, its JSON event lines parsed,
 * and its exit observable. Every child is tracked so the run can end
 * exactly the processes it started, by pid, and no others.
 */
export class Child {
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly events: AgentEvent[] = [];
  readonly exited: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private partialLine = '';

  constructor(readonly process: ChildProcess) {
    process.stdout?.setEncoding('utf8').on('data', (text: string) => this.takeOutput(text));
    process.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
      this.notify();
    });
    // Writing to a child that already exited must not crash the runner.
    process.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has all of the child's output been read.
      process.once('close', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        this.notify();
        resolve();
      });
      process.once('error', (error) => {
        this.stderr += `spawn failed: ${error.message}`;
        this.exitCode = -1;
        this.notify();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === null && this.signal === null;
  }

  /** Sends one command line to an agent. */
  command(command: string, fields: Record<string, unknown> = {}): void {
    if (this.running) this.process.stdin?.write(`${JSON.stringify({ command, ...fields })}\n`);
  }

  /** The first event of this name, waiting for it; null when the child exits first or the deadline passes. */
  async nextEvent(name: string, timeoutMs: number, after = 0): Promise<AgentEvent | null> {
    const found = () => this.events.slice(after).find((event) => event.event === name) ?? null;
    const ok = await this.until(() => found() !== null || !this.running, timeoutMs);
    return ok ? found() : null;
  }

  /** The last event of this name so far. */
  lastEvent(name: string): AgentEvent | null {
    for (let index = this.events.length - 1; index >= 0; index--) if (this.events[index]!.event === name) return this.events[index]!;
    return null;
  }

  /** Resolves true once `condition` holds (checked on every output and at exit), false after the deadline. */
  until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const finish = (value: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(condition()), timeoutMs);
      this.listeners.add(check);
    });
  }

  /** Waits for exit; false if the child is still running after the deadline. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    return this.until(() => !this.running, timeoutMs);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.process.kill(signal);
    await this.waitForExit(5000);
  }

  private takeOutput(text: string): void {
    this.stdout += text;
    const lines = (this.partialLine + text).split('\n');
    this.partialLine = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        const value = JSON.parse(line) as AgentEvent;
        if (typeof value.event === 'string') this.events.push(value);
      } catch {
        // Not an event line: kept in stdout only.
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

const started = new Set<Child>();
const directories = new Set<string>();

/** Starts a command as root, tracked so the run can end it. */
export function spawnTracked(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const child = new Child(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options }));
  started.add(child);
  void child.exited.then(() => started.delete(child));
  return child;
}

/** Kills every child this run started and is still running, each by its own pid. */
export async function killStarted(): Promise<void> {
  await Promise.all([...started].map((child) => child.kill()));
  started.clear();
}

/** A fresh directory for this run under /tmp, removed at the end. Short names: socket paths have a 107-byte limit. */
export function makeTempDir(mode = 0o700, parent = '/tmp'): string {
  const directory = mkdtempSync(join(parent, 'sbatk-'));
  chmodSync(directory, mode);
  directories.add(directory);
  return directory;
}

export function removeTempDirs(): void {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  directories.clear();
}

/** Resolves after `ms`; for pacing attacks, never for waiting on a condition. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms; true once it holds, false after the deadline. */
export async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/** Why a child did not do what was asked: its own error event, else how it ended. */
export function failureOf(child: Child): string {
  const error = child.lastEvent('agent-error');
  if (error) return String(error['message']);
  const tail = child.stderr.trim().split('\n').slice(-1)[0];
  return child.running ? 'no answer in time' : `exited with ${child.exitCode ?? child.signal}${tail ? `: ${tail}` : ''}`;
}
