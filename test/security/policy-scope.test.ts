import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../client/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { ALICE, BOB, cliAs, readableCopyOfProject, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

async function brokerWithPolicy(policy: object) {
  const directory = makeTempDir(0o755);
  const aclPath = join(directory, 'acl.json');
  writeFileSync(aclPath, JSON.stringify(policy));
  const broker = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--acl', aclPath] });
  return { ...broker, copy: readableCopyOfProject() };
}

describe('queue groups under a policy', () => {
  // Attack row: "join another user's queue group name": the attacker took 800 of 1,000 jobs and nobody was told.
  it('refuses to let a user join a queue group no entry of hers lists, and her would-be share goes to the members', async () => {
    const broker = await brokerWithPolicy({
      default: { subscribe: ['jobs.>'] },
      uids: { 0: { publish: ['>'], subscribe: ['>'], queues: ['workers'] } },
    });
    const worker = await connectClient(broker.socketPath, { name: 'worker' });
    const done: Message[] = [];
    worker.subscribe('jobs.>', (message) => done.push(message), { queue: 'workers' });
    await worker.flush();
    const hijacker = cliAs(ALICE, broker.copy, ['sub', 'jobs.>', '--queue', 'workers', '--socket', broker.socketPath]);
    await hijacker.waitForExit();
    expect([hijacker.exitCode, hijacker.stderr]).toEqual([
      1,
      `sockbus: ACCESS_DENIED: joining queue group workers is not allowed for user ${ALICE} (uid ${testUser(ALICE).uid}): no "queues" list in default names it\n`,
    ]);
    const boss = await connectClient(broker.socketPath);
    for (let job = 0; job < 1000; job++) boss.publish('jobs.build', job);
    await waitFor(() => done.length === 1000, 'every job to reach the worker');
    expect(await boss.brokerStats()).toMatchObject({ denied: 1 });
  });

  it('lets in a user whose entry lists the group', async () => {
    const broker = await brokerWithPolicy({
      default: { subscribe: ['jobs.>'] },
      users: { [ALICE]: { queues: ['workers'] } },
      uids: { 0: { publish: ['>'], subscribe: ['>'] } },
    });
    const member = cliAs(ALICE, broker.copy, ['sub', 'jobs.>', '--queue', 'workers', '--count', '1', '--socket', broker.socketPath]);
    const boss = await connectClient(broker.socketPath);
    await waitFor(async () => (await boss.brokerStats())['subscriptions'] === 1, 'alice to join');
    boss.publish('jobs.build', 'one');
    await member.waitForExit();
    expect([member.exitCode, member.stdout]).toEqual([0, expect.stringContaining('one')]);
  });
});

describe('stats by right', () => {
  // Attack row: "sockbus stats as an ordinary user with --acl denying $SYS.>": every client's id, name, user, uid and pid.
  it('shows a user who may not read $SYS.> the global counters and her own connections only', async () => {
    const broker = await brokerWithPolicy({ default: { subscribe: ['public.>'] }, uids: { 0: { publish: ['>'], subscribe: ['>'] } } });
    await connectClient(broker.socketPath, { name: 'root-daemon' });
    const bobListener = cliAs(BOB, broker.copy, ['sub', 'public.>', '--name', 'bob-listener', '--socket', broker.socketPath]);
    const observer = await connectClient(broker.socketPath);
    await waitFor(async () => (await observer.brokerStats())['subscriptions'] === 1, 'bob to subscribe');
    const asAlice = cliAs(ALICE, broker.copy, ['stats', '--json', '--name', 'alice-stats', '--socket', broker.socketPath]);
    await asAlice.waitForExit();
    expect(asAlice.stderr).toBe('');
    const seen = JSON.parse(asAlice.stdout) as { connections: number; clientsListed: string; clients: Array<{ name: string; uid: number }> };
    expect(seen).toMatchObject({ connections: 4, clientsListed: 'own' });
    expect(seen.clients.map((client) => [client.name, client.uid])).toEqual([['alice-stats', testUser(ALICE).uid]]);
    // Root, who may read $SYS.>, still sees everyone.
    const all = await observer.brokerStats();
    expect(all['clientsListed']).toBe('all');
    expect((all['clients'] as Array<{ name: string }>).map((client) => client.name)).toEqual(expect.arrayContaining(['root-daemon', 'bob-listener']));
    bobListener.process.kill();
  });
});
