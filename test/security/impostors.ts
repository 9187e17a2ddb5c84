import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, type Child } from '../helpers/processes.js';
import { BOB, spawnAs, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

/** Brokers run by another user than the client's, for the issue 11 "impostor broker" rows. */

/** A directory anyone may create a socket in but not remove another's, like /tmp. */
export function sharedDirectory(): string {
  const directory = makeTempDir(0o755);
  chmodSync(directory, 0o1777);
  return directory;
}

export interface FakeBroker {
  child: Child;
  /** What it saw so far, once every connection it had has closed. */
  seen(connections: number): Promise<{ connections: number; closed: number; bytes: number }>;
}

/** test/fixtures/fake-broker.mjs run as `user` from a readable copy: it never answers, and counts the bytes it gets. */
export async function fakeBrokerAs(user: string, copy: string, socketPath: string): Promise<FakeBroker> {
  const child = spawnAs(user, copy, 'fixtures/fake-broker.mjs', [socketPath]);
  await waitFor(() => child.stdout.startsWith('listening\n') || !child.running, 'the fake broker to listen');
  if (!child.running) throw new Error(`the fake broker exited: ${child.stderr}`);
  const last = () => JSON.parse(child.stdout.trim().split('\n').slice(1).at(-1) ?? '{"connections":0,"closed":0,"bytes":0}');
  return {
    child,
    async seen(connections) {
      await waitFor(() => last().connections >= connections && last().closed === last().connections, `${connections} connection(s) to the fake broker to close`);
      return last();
    },
  };
}

/** The real sockbusd run as bob, on a socket in a directory bob owns. */
export async function brokerAsBob(copy: string): Promise<{ socketPath: string; child: Child }> {
  const directory = makeTempDir(0o755);
  chownSync(directory, testUser(BOB).uid, testUser(BOB).gid);
  const socketPath = join(directory, 'bus.sock');
  const child = spawnAs(BOB, copy, 'dist/broker/main.js', ['--socket', socketPath]);
  await waitFor(() => child.stdout.includes('listening on') || !child.running, 'bob\'s broker to listen');
  if (!child.running) throw new Error(`bob's broker exited: ${child.stderr}`);
  return { socketPath, child };
}

/** `name (uid N)`, as the refusals name users. */
export const who = (name: string) => `${name} (uid ${testUser(name).uid})`;
