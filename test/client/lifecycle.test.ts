import { describe, expect, it } from 'vitest';
import { Client, connect, ErrorCode } from '../../client/index.js';
import { join } from 'node:path';
import { startBroker } from '../helpers/broker.js';
import { makeTempDir, spawnNode } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { readableCopyOfProject } from '../helpers/users.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';

describe('the client lifecycle reports what happened, and only that', () => {
  it('publish ten times then close(): everything arrives, and no loss is reported', async () => {
    const { socketPath } = await startBroker();
    const subscriber = await connectClient(socketPath);
    const inbox = await collect(subscriber, 'ten');
    const publisher = await connect({ path: socketPath });
    const dropped: unknown[] = [];
    publisher.on('dropped', (event) => dropped.push(event));
    for (let index = 0; index < 10; index++) publisher.publish('ten', index);
    await publisher.close();
    await waitForCount(inbox, 10);
    expect(inbox.map((message) => message.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(dropped).toEqual([]);
    expect(publisher.counters).toMatchObject({ published: 10, unconfirmed: 0, droppedByClient: 0 });
  });

  it('a request pending when close() is called fails with CLIENT_CLOSED', async () => {
    const { socketPath } = await startBroker();
    const responder = await connectClient(socketPath);
    const held = await collect(responder, 'svc.slow');
    const requester = await connect({ path: socketPath });
    const pending = requester.request('svc.slow', 1, { timeout: 20_000 });
    await waitForCount(held, 1);
    await requester.close();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.ClientClosed, message: 'the client was closed before the reply to the request on svc.slow arrived' });
  });

  it('close() before the first welcome settles started', async () => {
    const { socketPath } = await startBroker();
    const early = new Client({ path: socketPath });
    const closing = early.close();
    await expect(early.started).rejects.toMatchObject({ code: ErrorCode.ClientClosed, message: 'the client was closed before it connected' });
    await closing;
  });

  it('a throwing handler with no error listener is not lost: said once on stderr, and counted', async () => {
    const { socketPath } = await startBroker();
    // Fixtures run from a copy laid out as an install is (fixtures/ beside dist/).
    const child = spawnNode(join(readableCopyOfProject(), 'fixtures/throwing-handler.mjs'), [socketPath]);
    await child.waitForExit();
    expect(child.stdout).toBe('3\n');
    expect(child.stderr).toBe("sockbus: HANDLER_FAILED: handler of boom threw: handler bug (later failures are counted in counters.handlerFailures; listen for 'error' to see each)\n");
  });

  it('close() while a broker sits on the hello: the loop lets go of the connection at once, not at the handshake timeout', async () => {
    const socketPath = join(makeTempDir(), 'bus.sock');
    const silent = spawnNode(join(readableCopyOfProject(), 'fixtures/fake-broker.mjs'), [socketPath]);
    await waitFor(() => silent.stdout.includes('listening'), 'the silent broker to listen');
    const client = new Client({ path: socketPath, handshakeTimeoutMs: 120_000 });
    await waitFor(() => silent.stdout.includes('"bytes":'), 'the hello to reach it');
    await client.close();
    expect(client.state).toBe('closed');
    await expect(client.started).rejects.toMatchObject({ code: ErrorCode.ClientClosed });
    // Its socket is closed now, two minutes before the hello would have timed out.
    await waitFor(() => silent.stdout.includes('"closed":1'), 'the connection to be closed');
  });
});
