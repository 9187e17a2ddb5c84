import { describe, expect, it } from 'vitest';
import { ErrorCode, type Client, type Message } from '../../client/index.js';
import { restartBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

describe('request/reply and queue groups across a broker restart', () => {
  it('fails pending requests at once with a clear error, then restores responders and queue membership', async () => {
    const broker = await startBroker();
    const requester = await connectClient(broker.socketPath, { name: 'requester' });
    const members = await Promise.all([1, 2].map((index) => connectClient(broker.socketPath, { name: `member-${index}` })));
    const watcher = await connectClient(broker.socketPath, { name: 'watcher' });
    const held: Message[] = [];
    const shares = members.map((member) => {
      const received: number[] = [];
      member.subscribe('svc.job', { queue: 'svc' }, (message: Message<number>) => {
        if (message.isRequest) held.push(message);
        else received.push(message.data);
      });
      return received;
    });
    const watched = await collect(watcher, 'svc.>');
    await Promise.all(members.map((member) => member.flush()));

    const pending = requester.request('svc.job', 'before', { timeout: 600_000 }).catch((error: unknown) => error);
    await waitForCount(held, 1, 'the request to be held by a member');
    const everyoneBack = [requester, watcher, ...members].map((client: Client) => nextEvent(client, 'reconnect'));
    await broker.child.kill('SIGKILL');
    expect(await pending).toMatchObject({
      code: ErrorCode.ConnectionClosed,
      message: expect.stringMatching(/^the connection to the broker was lost before the reply to the request on svc\.job arrived \(.+\)$/),
    });

    await restartBroker(broker);
    await Promise.all(everyoneBack);
    await Promise.all([requester, watcher, ...members].map((client) => client.flush()));
    // The reply address from before the restart leads nowhere now; answering it is harmless.
    held[0]!.respond('stale');
    for (let n = 0; n < 100; n++) requester.publish('svc.job', n);
    await waitForCount(watched, 101, 'the watcher to get every job');
    await waitFor(() => shares.flat().length === 100, 'the queue group to share the jobs');
    expect(shares.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, n) => n));
    expect(shares.map((received) => received.length)).toEqual([50, 50]);

    const answering = held.length;
    const reply = requester.request('svc.job', 'after');
    await waitForCount(held, answering + 1, 'the new request to reach a member');
    held.at(-1)!.respond('done');
    expect((await reply).data).toBe('done');
    expect(requester.counters.lateReplies).toBe(0);
  });
});
