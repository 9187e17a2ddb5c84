import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnBroker, startBroker } from '../helpers/broker.js';
import { connectClient, waitForSubscriptions } from '../helpers/clients.js';
import { makeTempDir, spawnNode } from '../helpers/processes.js';
import { ALICE, BOB, cliAs, groupId, readableCopyOfProject, TEST_GROUP, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

describe('who may reach the socket', () => {
  it('group mode (--mode 0660 --group): members connect, others get a clear permission error', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o755), 'team.sock'), args: ['--mode', '0660', '--group', TEST_GROUP] });
    const socket = statSync(socketPath);
    expect([socket.mode & 0o777, socket.gid]).toEqual([0o660, groupId(TEST_GROUP)]);

    const member = cliAs(ALICE, copy, ['sub', 'team.x', '--count', '1', '--socket', socketPath], { groups: [TEST_GROUP] });
    await waitForSubscriptions(socketPath, 1);
    (await connectClient(socketPath)).publish('team.x', 'hello team');
    await member.waitForExit();
    expect([member.exitCode, member.stdout]).toEqual([0, '{"topic":"team.x","data":"hello team","headers":{}}\n']);

    const outsider = cliAs(BOB, copy, ['sub', 'team.x', '--socket', socketPath]);
    await outsider.waitForExit();
    expect([outsider.exitCode, outsider.stderr]).toEqual([1, `sockbus: permission denied connecting to ${socketPath}\n`]);
  });

  it('private mode (a 0700 directory of the broker\'s user) keeps every other user out', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o700), 'private.sock') });
    for (const user of [ALICE, BOB]) {
      const outsider = cliAs(user, copy, ['pub', 'x', '--socket', socketPath]);
      await outsider.waitForExit();
      expect([outsider.exitCode, outsider.stderr]).toEqual([1, `sockbus: permission denied connecting to ${socketPath}\n`]);
    }
    await connectClient(socketPath); // and its own user is let in
  });

  it('refuses to serve from a directory another user owns or could write to, naming it and why', async () => {
    const parent = makeTempDir(0o755);
    const foreign = join(parent, 'bobs');
    mkdirSync(foreign, { mode: 0o755 });
    chownSync(foreign, testUser(BOB).uid, testUser(BOB).gid);
    const open = join(parent, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const groupWritable = join(parent, 'group-writable');
    mkdirSync(groupWritable);
    chmodSync(groupWritable, 0o775);
    const cases: Array<[string, string]> = [
      [join(foreign, 'bus.sock'), `${foreign} belongs to uid ${testUser(BOB).uid}, another user, who could replace the socket`],
      [join(open, 'bus.sock'), `${open} is writable by anyone and not sticky, so others could replace the socket`],
      [join(groupWritable, 'bus.sock'), `${groupWritable} is writable by its group and not sticky, so others could replace the socket`],
      [join(foreign, 'deeper', 'bus.sock'), `${foreign} belongs to uid ${testUser(BOB).uid}, another user, who could replace the socket`],
    ];
    for (const [socketPath, reason] of cases) {
      const broker = spawnBroker(socketPath);
      await broker.waitForExit();
      expect([broker.exitCode, broker.stderr]).toEqual([1, `sockbusd: refusing to serve on ${socketPath}: ${reason}\n`]);
    }
    // A sticky world-writable directory, like /tmp, is fine: others cannot remove what is not theirs.
    const sticky = join(parent, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    await startBroker({ socketPath: join(sticky, 'bus.sock') });
  });

  it('limits connections per uid with a clear error, without affecting other users', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o755), 'bus.sock'), args: ['--max-connections-per-uid', '2'] });
    const held = [cliAs(BOB, copy, ['sub', 'a', '--socket', socketPath]), cliAs(BOB, copy, ['sub', 'b', '--socket', socketPath])];
    await waitForSubscriptions(socketPath, 2);
    const third = cliAs(BOB, copy, ['sub', 'c', '--socket', socketPath]);
    await third.waitForExit();
    expect([third.exitCode, third.stderr]).toEqual([
      1,
      `sockbus: user ${BOB} (uid ${testUser(BOB).uid}) already has 2 connections, the most the broker allows one user (--max-connections-per-uid)\n`,
    ]);
    const alice = cliAs(ALICE, copy, ['sub', 'd', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 3);
    await held[0]!.kill('SIGTERM');
    const again = cliAs(BOB, copy, ['sub', 'e', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 3);
    expect([again.running, alice.running]).toEqual([true, true]);
  });
});

describe('without the native addon', () => {
  it('runs and says once that credentials are unavailable, but refuses --acl rather than run open', async () => {
    // A copy of the built code without build/: the addon is missing, as on a platform where it did not compile.
    const copy = readableCopyOfProject({ addon: false });
    const directory = makeTempDir();
    const broker = spawnNode(join(copy, 'dist/broker/main.js'), ['--socket', join(directory, 'bus.sock')]);
    await waitFor(() => broker.stdout.includes('listening on'), 'the broker to listen');
    expect(broker.stderr).toBe(
      'sockbusd: warn: peer credentials are unavailable (the native addon was not built): messages carry no sender, and any client may read $SYS. topics\n',
    );
    const client = await connectClient(join(directory, 'bus.sock'));
    expect((await client.clients())[0]).not.toHaveProperty('uid');

    const withAcl = spawnNode(join(copy, 'dist/broker/main.js'), ['--socket', join(directory, 'acl.sock'), '--acl', join(directory, 'acl.json')]);
    await withAcl.waitForExit();
    expect([withAcl.exitCode, withAcl.stderr]).toEqual([
      1,
      'sockbusd: --acl needs peer credentials, which are unavailable here (the native addon was not built); refusing to start rather than run without access control\n',
    ]);
  });
});
