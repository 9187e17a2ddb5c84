import { connect, type BrokerStats } from '../client/index.js';
import { spawnTracked, type Child } from './processes.js';
import { RssSampler } from './rss.js';
import { builtScript, PROJECT_ROOT } from './users.js';

export const BROKER_SCRIPT = builtScript(PROJECT_ROOT, 'broker/main.js');

/** How long a broker may take to say it listens, or to refuse: node starts slowly on a loaded machine. */
const START_TIMEOUT_MS = 10_000;

export interface BrokerLaunch {
  socketPath: string;
  /** More sockbusd options (`--acl FILE`, `--state FILE`, ...). */
  args?: string[];
  startTimeoutMs?: number;
}

/** A sockbusd run as root; `started` false when it refused to start (or hung), with why in `stderr`. */
export class RunningBroker {
  readonly rss: RssSampler;
  /** Set by stop(): an exit after it is not a crash. */
  stoppedOnPurpose = false;

  private constructor(
    readonly child: Child,
    readonly socketPath: string,
    /** 'listening', 'exited' (refused to start) or 'hung' (neither within the deadline). */
    readonly outcome: 'listening' | 'exited' | 'hung',
  ) {
    this.rss = new RssSampler(child.pid);
    if (outcome === 'listening') this.rss.start();
  }

  static async start({ socketPath, args = [], startTimeoutMs = START_TIMEOUT_MS }: BrokerLaunch): Promise<RunningBroker> {
    const child = spawnTracked(process.execPath, [BROKER_SCRIPT, '--socket', socketPath, ...args], { cwd: PROJECT_ROOT });
    await child.until(() => child.stdout.includes('listening on') || !child.running, startTimeoutMs);
    const outcome = child.stdout.includes('listening on') ? 'listening' : child.running ? 'hung' : 'exited';
    return new RunningBroker(child, socketPath, outcome);
  }

  get pid(): number {
    return this.child.pid;
  }

  get started(): boolean {
    return this.outcome === 'listening';
  }

  get alive(): boolean {
    return this.child.running;
  }

  /** The broker's log (stderr), for reasons and stack traces. */
  get log(): string {
    return this.child.stderr;
  }

  /** The first line of what it said on stderr: its reason for refusing to start. */
  get firstLogLine(): string {
    return this.child.stderr.trim().split('\n')[0] ?? '';
  }

  /** The broker's counters, asked as root through the client library; null if it does not answer. */
  async stats(): Promise<BrokerStats | null> {
    try {
      const client = await connect({ path: this.socketPath, name: 'attack-runner', reconnect: false, handshakeTimeoutMs: 2000 });
      try {
        return await withTimeout(client.brokerStats(), 3000);
      } finally {
        await client.close().catch(() => undefined);
      }
    } catch {
      return null;
    }
  }

  /** SIGTERM, then SIGKILL after the deadline; true when it exited by itself in time. */
  async stop(deadlineMs = 5000): Promise<boolean> {
    this.stoppedOnPurpose = true;
    this.rss.stop();
    if (!this.child.running) return true;
    this.child.process.kill('SIGTERM');
    const exited = await this.child.waitForExit(deadlineMs);
    if (!exited) await this.child.kill('SIGKILL');
    return exited;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    );
  });
}
