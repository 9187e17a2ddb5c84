import type { BrokerLaunch, RunningBroker } from './broker.js';
import type { WellBehavedPair } from './pair.js';
import type { Child } from './processes.js';
import type { SpawnAsOptions } from './users.js';

/** What an attack concluded. */
export type Verdict =
  | { held: true; details: Record<string, unknown> }
  | { held: false; reason: string; details: Record<string, unknown> }
  | { skipped: string; details?: Record<string, unknown> };

export const held = (details: Record<string, unknown> = {}): Verdict => ({ held: true, details });
export const notHeld = (reason: string, details: Record<string, unknown> = {}): Verdict => ({ held: false, reason, details });
export const skipped = (reason: string): Verdict => ({ skipped: reason });

/** Several checks of one attack, each with its own reason: held only when all hold. */
export function verdictOf(failures: string[], details: Record<string, unknown>): Verdict {
  return failures.length === 0 ? held(details) : notHeld(failures.join('; '), details);
}

/** What the runner gives an attack. */
export interface AttackContext {
  quick: boolean;
  /** The runner's broker, started with the attack's options (null for attacks that start their own). */
  broker: RunningBroker | null;
  /** A directory for this attack's files, root's, mode 0755. */
  directory: string;
  /** A fresh directory with the given mode, removed at the end of the run. */
  tempDir(mode: number): string;
  /** Starts a broker as root; the runner samples its memory and stops it after the attack. */
  startBroker(launch: BrokerLaunch): Promise<RunningBroker>;
  /** Starts carol's pair against a broker; the runner measures it after the attack. */
  startPair(socketPath: string): Promise<WellBehavedPair>;
  /** Runs `dist-tools/SCRIPT` of the readable copy as an unprivileged user. */
  nodeAs(user: string, script: string, args: string[], options?: SpawnAsOptions): Child;
  /** Runs an agent (`attack/agents/NAME.js`) as a user, its task as JSON. */
  agent(user: string, name: string, agentTask: Record<string, unknown>, options?: SpawnAsOptions): Child;
  /** Runs the `sockbus` CLI as a user. */
  cli(user: string, args: string[], options?: SpawnAsOptions): Child;
  /** The readable copy of the project the users' processes run from. */
  copy: string;
  /** Adds a line to the attack's notes in the report. */
  note(text: string): void;
  /** Records one of the figures the row reports (CPU, cost per publish, refusals), shown in its own column. */
  figure(label: string, value: string | number): void;
}

/** Bars the runner holds a row to beyond its own criterion, once the pair's figures are in. */
export interface Bars {
  /** The broker's peak RSS (VmHWM) must stay under this. */
  peakRssMiB?: number;
  /** Carol's pings' 99th percentile round trip must stay under this. */
  pingP99Ms?: number;
}

export interface Attack {
  /** Short and stable: the row's name and what `--only` takes. */
  name: string;
  /** One line: what is attempted. */
  title: string;
  /**
   * The broker the runner starts, with carol's pair, before run(): its
   * extra options (files go in `directory`). null: the attack is about how
   * brokers start and starts its own through the context.
   */
  broker: ((directory: string) => string[]) | null;
  run(context: AttackContext): Promise<Verdict>;
  bars?: Bars;
  /** Undoes what broker() or run() made outside the run's temp dirs (system groups); always called. */
  cleanup?(): void;
}
