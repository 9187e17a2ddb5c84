import { join } from 'node:path';
import { expect } from 'vitest';
import { connect } from '../../client/index.js';
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

/** Connects to the broker on the path and flushes, trusting a broker of `brokerUser` too (root and ourselves are trusted anyway). */
export async function expectServing(socketPath: string, brokerUser?: string): Promise<void> {
  const client = await connect({ path: socketPath, reconnect: false, brokerUid: brokerUser });
  await client.flush();
  await client.close();
}

/** Ten brokers at once on one path: exactly one serves, the others say a broker is there. Resolves with the one. */
export async function raceTenBrokers(socketPath: string): Promise<Child> {
  const children = Array.from({ length: 10 }, () => spawnBroker(socketPath));
  await waitFor(() => children.filter((child) => !child.running).length === 9, 'nine brokers to give up', 20_000);
  const survivors = children.filter((child) => child.running);
  expect(survivors).toHaveLength(1);
  await waitFor(() => survivors[0]!.stdout.includes('listening'), 'the survivor to listen');
  for (const loser of children.filter((child) => !child.running)) {
    expect([loser.exitCode, loser.stderr]).toEqual([1, `sockbusd: another broker is listening on ${socketPath}\n`]);
  }
  await expectServing(socketPath);
  return survivors[0]!;
}
