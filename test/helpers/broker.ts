import { join } from 'node:path';
import type { SpawnOptions } from 'node:child_process';
import { BROKER_BIN, CLI_BIN, makeTempDir, spawnNode, type Child } from './processes.js';
import { waitFor } from './wait.js';

export interface TestBroker {
  child: Child;
  socketPath: string;
}

/** Spawns sockbusd without waiting for it. */
export function spawnBroker(socketPath: string, args: string[] = [], options: SpawnOptions = {}): Child {
  return spawnNode(BROKER_BIN, ['--socket', socketPath, ...args], options);
}

/** Starts sockbusd on a socket in a fresh temp directory (or the given path) and waits until it listens. */
export async function startBroker(options: { socketPath?: string; args?: string[] } = {}): Promise<TestBroker> {
  const socketPath = options.socketPath ?? join(makeTempDir(), 'bus.sock');
  const child = spawnBroker(socketPath, options.args);
  await waitFor(() => child.stdout.includes('listening on') || !child.running, 'the broker to listen');
  if (!child.running) throw new Error(`broker exited with ${child.exitCode}: ${child.stderr}`);
  return { child, socketPath };
}

/** Starts sockbusd on a socket other users can reach: in a temp directory they may enter (0755). */
export function startSharedBroker(args: string[] = []): Promise<TestBroker> {
  return startBroker({ socketPath: join(makeTempDir(0o755), 'bus.sock'), args });
}

/** Restarts a broker on the same socket path after it was killed. */
export async function restartBroker(broker: TestBroker, args: string[] = []): Promise<TestBroker> {
  return startBroker({ socketPath: broker.socketPath, args });
}

/** Runs the sockbus CLI to completion. */
export async function runCli(args: string[], options: SpawnOptions & { input?: string } = {}): Promise<Child> {
  const child = startCli(args, options);
  if (options.input !== undefined) child.process.stdin!.end(options.input);
  else child.process.stdin!.end();
  await child.waitForExit();
  return child;
}

/** Starts the sockbus CLI and returns while it runs. */
export function startCli(args: string[], options: SpawnOptions = {}): Child {
  return spawnNode(CLI_BIN, args, options);
}
