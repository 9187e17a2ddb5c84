import { createHash } from 'node:crypto';
import { cpSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectServing, raceTenBrokers, startBroker } from '../helpers/broker.js';
import { makeTempDir, PROJECT_ROOT, type Child } from '../helpers/processes.js';
import { ALICE, BOB, readableCopyOfProject, spawnAs, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { runAs } from './run-as.js';

/** Bob listening on `path` (abstract when it starts with "@"), as a squatter would. */
async function squat(copy: string, path: string): Promise<Child> {
  const listener = spawnAs(BOB, copy, 'fixtures/listen.mjs', [path]);
  await waitFor(() => listener.stdout.includes('listening') || !listener.running, 'the squatter to listen');
  if (!listener.running) throw new Error(`the squatter exited: ${listener.stderr}`);
  return listener;
}

// Issue 11: the start lock was an abstract socket name derived from the
// socket path, which any user could bind first to keep root's broker from
// starting anywhere. It is now a directory only the broker's user can write.
describe('the start lock', () => {
  it('bob binding the old abstract lock name no longer stops root, even in a root-only 0700 directory', async () => {
    const socketPath = join(makeTempDir(0o700), 'bus.sock');
    const digest = createHash('sha256').update(socketPath).digest('hex').slice(0, 40);
    await squat(readableCopyOfProject(), `@sockbus-lock-${digest}`);
    await startBroker({ socketPath });
    await expectServing(socketPath);
  });

  it("root takes back a lock directory bob made first in a sticky dir, and exclusion still holds", async () => {
    const shared = makeTempDir(0o1777);
    const socketPath = join(shared, 'bus.sock');
    const lockDirectory = join(shared, '.sockbus-lock-0');
    runAs(BOB, 'mkdir', ['-m', '0777', lockDirectory]);
    const squatter = await squat(readableCopyOfProject(), join(lockDirectory, 'bus.sock.0'));
    runAs(BOB, 'touch', [join(lockDirectory, 'bus.sock.1')]);

    const first = await startBroker({ socketPath });
    await waitFor(() => first.child.stderr.includes('took it back'), 'the broker to say it took the directory back');
    expect(first.child.stderr).toBe(
      `sockbusd: warn: the start lock directory ${lockDirectory} belonged to ${BOB} (uid ${testUser(BOB).uid}); took it back (owner root, mode 0700)\n`,
    );
    const taken = lstatSync(lockDirectory);
    expect([taken.uid, taken.mode & 0o7777]).toEqual([0, 0o700]);
    // Bob's entries are cleared and he cannot add new ones.
    expect(readdirSync(lockDirectory)).toEqual(['bus.sock.2']);
    expect(() => runAs(BOB, 'touch', [join(lockDirectory, 'bus.sock.3')])).toThrow(/Permission denied/);
    expect(squatter.running).toBe(true);

    // A broker that dies leaves a stale socket and a stale lock entry: the race the lock is for.
    await first.child.kill('SIGKILL');
    await raceTenBrokers(socketPath);
    expect(readdirSync(lockDirectory)).toHaveLength(1);
  });

  it("another user's broker starts without the lock, and says so, when bob made its lock directory first", async () => {
    const shared = makeTempDir(0o1777);
    const socketPath = join(shared, 'bus.sock');
    const lockDirectory = join(shared, `.sockbus-lock-${testUser(ALICE).uid}`);
    runAs(BOB, 'mkdir', ['-m', '0777', lockDirectory]);
    const copy = readableCopyOfProject();
    // With the native addon, so the broker can name users.
    cpSync(join(PROJECT_ROOT, 'build/Release/sockbus_native.node'), join(copy, 'build/Release/sockbus_native.node'));
    const broker = spawnAs(ALICE, copy, 'dist/broker/main.js', ['--socket', socketPath]);
    await waitFor(() => broker.stdout.includes('listening') || !broker.running, "alice's broker to listen");
    expect(broker.stderr).toBe(
      `sockbusd: warn: cannot use the start lock directory ${lockDirectory}: it belongs to ${BOB} (uid ${testUser(BOB).uid}), another user, who could add or remove entries in it; ` +
        `starting without the start lock, so a second broker started at this same moment on ${socketPath} could race this one (a socket that answers is still never replaced)\n`,
    );
    expect(broker.running).toBe(true);
    await expectServing(socketPath, ALICE);
  });

  it('keeps its directory small: a dead broker\'s entry is removed by the next, and a clean stop removes its own', async () => {
    const socketPath = join(makeTempDir(0o700), 'bus.sock');
    const lockDirectory = join(socketPath, '..', '.sockbus-lock-0');
    const first = await startBroker({ socketPath });
    expect(lstatSync(lockDirectory).mode & 0o777).toBe(0o700);
    expect(readdirSync(lockDirectory)).toEqual(['bus.sock.0']);
    await first.child.kill('SIGKILL');
    const second = await startBroker({ socketPath });
    expect(readdirSync(lockDirectory)).toEqual(['bus.sock.1']);
    await second.child.kill('SIGTERM');
    expect(second.child.exitCode).toBe(0);
    expect(readdirSync(lockDirectory)).toEqual([]);
  });

  it('ten brokers racing on a stale socket (a broker was SIGKILLed) leave exactly one serving', async () => {
    const socketPath = join(makeTempDir(0o700), 'bus.sock');
    const first = await startBroker({ socketPath });
    await first.child.kill('SIGKILL');
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    await raceTenBrokers(socketPath);
  });
});
