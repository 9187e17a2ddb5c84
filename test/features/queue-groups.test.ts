import { describe, expect, it } from 'vitest';
import { ErrorCode, type Client, type Message } from '../../client/index.js';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { thrownBy, waitFor } from '../helpers/wait.js';

async function joinGroup(client: Client, pattern: string, group: string): Promise<number[]> {
  const received: number[] = [];
  client.subscribe(pattern, { queue: group }, (message: Message<number>) => received.push(message.data));
  await client.flush();
  return received;
}

function publishRange(client: Client, topic: string, from: number, to: number, payload?: string): void {
  for (let n = from; n < to; n++) client.publish(topic, payload === undefined ? n : n, payload ? { headers: { pad: payload } } : {});
}

/** Every number in [0, count) exactly once across the members. */
function expectEachOnce(members: number[][], count: number): void {
  const all = members.flat().sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: count }, (_, n) => n));
}

describe('queue groups', () => {
  it('gives each message to exactly one member, evenly, while a plain subscriber gets them all', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    const members = await Promise.all([1, 2, 3].map(async () => joinGroup(await connectClient(socketPath), 'jobs.>', 'workers')));
    const watcher = await collect(await connectClient(socketPath), 'jobs.>');
    publishRange(publisher, 'jobs.resize', 0, 3000);
    await waitForCount(watcher, 3000);
    await waitFor(() => members.flat().length === 3000, 'every job to reach one worker');
    expectEachOnce(members, 3000);
    for (const received of members) expect(received.length).toBeGreaterThanOrEqual(900), expect(received.length).toBeLessThanOrEqual(1100);
  });

  it('spreads over the members still there when one leaves mid-stream, losing and doubling nothing after the broker sees it go', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(socketPath)));
    const members = await Promise.all(clients.map((client) => joinGroup(client, 'work', 'pool')));
    publishRange(publisher, 'work', 0, 1500);
    await waitFor(() => members.flat().length === 1500, 'the first half to be shared out');
    const leaver = clients[2]!;
    const beforeLeaving = members[2]!.length;
    await leaver.close();
    await waitFor(async () => (await publisher.brokerStats())['connections'] === 3, 'the broker to see the member leave');
    publishRange(publisher, 'work', 1500, 3000);
    await waitFor(() => members.flat().length === 3000, 'the second half to be shared by the two left');
    expectEachOnce(members, 3000);
    expect(members[2]!.length).toBe(beforeLeaving);
    const secondHalf = members.slice(0, 2).map((received) => received.filter((n) => n >= 1500).length);
    expect(secondHalf).toEqual([750, 750]);
  });

  it('skips a member whose buffer is full instead of dropping its messages', async () => {
    const { socketPath } = await startBroker({ args: ['--max-pending', '16KiB'] });
    const publisher = await connectClient(socketPath);
    const healthy = await joinGroup(await connectClient(socketPath), 'bulk', 'sink');
    const stalled = await RawConnection.open(socketPath);
    stalled.sendValue([MessageKind.Subscribe, 1, 'bulk', { queue: 'sink' }]);
    stalled.sendValue([MessageKind.Ping, 1]);
    await stalled.waitForKind(MessageKind.Pong);
    stalled.socket.pause(); // reads nothing more: its buffer at the broker fills up
    const count = 3000;
    // In small batches, so the healthy member's buffer always has room: only the stalled one fills up.
    for (let batch = 0; batch < count; batch += 8) {
      publishRange(publisher, 'bulk', batch, batch + 8, 'x'.repeat(1000));
      await publisher.flush();
    }
    await waitFor(async () => (await publisher.brokerStats())['messagesOut'] as number >= count, 'every message to be handed to a member');
    expect(await publisher.brokerStats()).toMatchObject({ dropped: 0 });
    stalled.socket.resume();
    const stalledGot = () => stalled.received.filter((message) => message.kind === MessageKind.Message).map((message) => (message as { data: number }).data);
    await waitFor(() => healthy.length + stalledGot().length === count, 'the stalled member to read what it was given');
    expectEachOnce([healthy, stalledGot()], count);
    expect(healthy.length).toBeGreaterThan(count / 2);
  });

  it('answers a request to a group from one member only', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const answered: number[] = [];
    for (const index of [0, 1, 2]) {
      const member = await connectClient(socketPath);
      member.subscribe('svc.id', { queue: 'svc' }, (message) => {
        answered.push(index);
        message.respond(index);
      });
      await member.flush();
    }
    for (let round = 0; round < 6; round++) await requester.request('svc.id', null);
    expect(answered.sort()).toEqual([0, 0, 1, 1, 2, 2]);
    await requester.flush();
    expect(requester.counters.lateReplies).toBe(0);
  });

  it('refuses an invalid group name with a clear error, on the client and at the broker', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    expect(thrownBy(() => client.subscribe('a', { queue: 'two words' }))).toMatchObject({
      code: ErrorCode.InvalidQueue,
      message: 'invalid queue group name "two words": U+0020 is not allowed (no controls, spaces or invisible characters)',
    });
    const raw = await RawConnection.open(socketPath);
    raw.sendValue([MessageKind.Subscribe, 4, 'a', { queue: '' }]);
    expect(await raw.waitForKind(MessageKind.Error)).toEqual({
      kind: MessageKind.Error,
      code: ErrorCode.InvalidQueue,
      message: 'invalid queue group name "": it is empty',
      about: { kind: MessageKind.Subscribe, sub: 4 },
    });
    raw.sendValue([MessageKind.Ping, 2]);
    await raw.waitForKind(MessageKind.Pong);
  });
});
