import { describe, expect, it } from 'vitest';
import type { Message } from '../../client/index.js';
import { startSharedBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';
import { ALICE, BOB, cliAs, readableCopyOfProject, spawnAs, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

describe('peer credentials, as the kernel reports them', () => {
  it('names each client\'s uid, user and pid in the client list and on every message it publishes', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startSharedBroker();
    const host = await connectClient(socketPath, { name: 'host' });
    const inbox = await collect(host, 'plugin.>');
    const alice = testUser(ALICE);
    const plugin = cliAs(ALICE, copy, ['pub', 'plugin.hello', '"hi"', '--name', 'alice-plugin', '--socket', socketPath]);
    await waitForCount(inbox, 1);
    expect(inbox[0]!.sender).toEqual({ uid: alice.uid, pid: plugin.pid });

    const listener = cliAs(ALICE, copy, ['sub', 'never', '--name', 'alice-listener', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 2);
    const listed = (await host.clients()).find((client) => client.name === 'alice-listener');
    expect(listed).toMatchObject({ uid: alice.uid, user: ALICE, pid: listener.pid });
    const self = (await host.clients()).find((client) => client.name === 'host');
    expect(self).toMatchObject({ uid: process.getuid!(), user: 'root', pid: process.pid });
  });

  it('replaces whatever sender a client claims with the kernel\'s answer', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startSharedBroker();
    const host = await connectClient(socketPath);
    const inbox = await collect(host, 'forged');
    const forger = spawnAs(BOB, copy, 'fixtures/forge-sender.mjs', [socketPath, 'forged']);
    await waitForCount(inbox, 1);
    await forger.waitForExit();
    const message = inbox[0] as Message;
    expect(message.sender).toEqual({ uid: testUser(BOB).uid, pid: forger.pid });
    expect(message.headers).toEqual({ sender: 'root' }); // an ordinary header, shown as such
  });

  it('keeps $SYS. for root and the broker\'s user when no policy says otherwise', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startSharedBroker();
    const root = await collect(await connectClient(socketPath), '$SYS.client.>');
    const bob = cliAs(BOB, copy, ['sub', '$SYS.client.>', '--socket', socketPath]);
    await bob.waitForExit();
    const uid = testUser(BOB).uid;
    expect([bob.exitCode, bob.stderr]).toEqual([
      1,
      `sockbus: ACCESS_DENIED: subscribe to $SYS.client.> is not allowed for user ${BOB} (uid ${uid}): only root and the broker's user may read $SYS. topics unless an --acl policy allows more\n`,
    ]);
    // Root saw bob come and go, with who he is.
    await waitFor(() => root.some((event) => event.topic === '$SYS.client.disconnected'), 'bob to be seen leaving');
    expect(root[0]!.data).toMatchObject({ uid, user: BOB, pid: bob.pid });
  });
});
