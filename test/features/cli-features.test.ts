import { describe, expect, it } from 'vitest';
import { runCli, startBroker, startCli } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';

describe('the command line for requests, queue groups, retained values and clients', () => {
  it('req gets the answer of reply, which prints each request it answers', async () => {
    const { socketPath } = await startBroker();
    const reply = startCli(['reply', 'time.now', '{"hour":12}', '--count', '2', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    const first = await runCli(['req', 'time.now', '--socket', socketPath]);
    expect([first.exitCode, first.stdout, first.stderr]).toEqual([0, '{"data":{"hour":12},"headers":{}}\n', '']);
    const second = await runCli(['req', 'time.now', '"utc"', '--header', 'tz=UTC', '--socket', socketPath]);
    expect(second.stdout).toBe('{"data":{"hour":12},"headers":{}}\n');
    await reply.waitForExit();
    expect(reply.exitCode).toBe(0);
    expect(reply.stdout).toBe('{"topic":"time.now","data":null,"headers":{}}\n{"topic":"time.now","data":"utc","headers":{"tz":"UTC"}}\n');
  });

  it('req says why it failed, with exit status 1: no responders, or a timeout', async () => {
    const { socketPath } = await startBroker();
    const presence = await collect(await connectClient(socketPath), '$SYS.client.disconnected');
    const nobody = await runCli(['req', 'svc.none', '--socket', socketPath]);
    expect([nobody.exitCode, nobody.stdout, nobody.stderr]).toEqual([1, '', 'sockbus: no responders: nothing subscribes to svc.none\n']);
    // A failed request is an answer, not a crash: req still says goodbye.
    await waitForCount(presence, 1);
    expect(presence[0]!.data).toMatchObject({ name: 'sockbus req', reason: 'closed by the client: the client was closed' });
    const silent = startCli(['sub', 'svc.silent', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 2); // the presence watcher's and the silent one's
    const timedOut = await runCli(['req', 'svc.silent', '--timeout', '200', '--socket', socketPath]);
    expect([timedOut.exitCode, timedOut.stderr]).toEqual([1, 'sockbus: no reply to the request on svc.silent within 200 ms\n']);
    await silent.kill('SIGTERM');
  });

  it('sub --queue shares messages among the group; pub --retain is replayed to a late sub, marked', async () => {
    const { socketPath } = await startBroker();
    const workers = [1, 2].map(() => startCli(['sub', 'jobs', '--queue', 'w', '--count', '2', '--socket', socketPath]));
    await waitForSubscriptions(socketPath, 2);
    expect((await runCli(['pub', 'jobs', '"job"', '--count', '4', '--socket', socketPath])).exitCode).toBe(0);
    await Promise.all(workers.map((worker) => worker.waitForExit()));
    expect(workers.map((worker) => worker.stdout)).toEqual(Array(2).fill('{"topic":"jobs","data":"job","headers":{}}\n'.repeat(2)));

    expect((await runCli(['pub', 'desk.theme', 'dark', '--retain', '--socket', socketPath])).exitCode).toBe(0);
    const late = await runCli(['sub', 'desk.>', '--count', '1', '--socket', socketPath]);
    expect(late.stdout).toBe('{"topic":"desk.theme","data":"dark","headers":{},"retained":true}\n');
  });

  it('clients lists who is connected', async () => {
    const { socketPath } = await startBroker();
    const watcher = startCli(['sub', 'x', '--name', 'watcher', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    const listing = await runCli(['clients', '--socket', socketPath]);
    const [header, ...rows] = listing.stdout.trim().split('\n');
    expect(header).toBe('id\tname\tuid\tuser\tpid\tsubscriptions\tmessagesIn\tmessagesOut\tdropped\tdenied\tpendingBytes\tconnectedSeconds');
    expect(rows.map((row) => row.split('\t').slice(1, 5))).toEqual([
      ['watcher', String(process.getuid!()), 'root', String(watcher.pid)],
      ['sockbus clients', String(process.getuid!()), 'root', expect.stringMatching(/^\d+$/)],
    ]);
    const json = JSON.parse((await runCli(['clients', '--json', '--socket', socketPath])).stdout) as Array<{ name: string }>;
    expect(json.map((client) => client.name)).toEqual(['watcher', 'sockbus clients']);
    await watcher.kill('SIGTERM');
  });
});
