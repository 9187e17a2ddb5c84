import { describe, expect, it } from 'vitest';
import { Client, type ConnectionInfo, type Message } from '../../client/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { nextEvent, thrownBy } from '../helpers/wait.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { MessageKind, type Stats, type Welcome } from '../../protocol/index.js';

const topics = ['a', 'a.b', 'a.b.c', 'a.x.c', 'b.b.c', 'a.b.c.d'];
const matrix: Array<[pattern: string, expected: string[]]> = [
  ['a.b.c', ['a.b.c']],
  ['a.*.c', ['a.b.c', 'a.x.c']],
  ['*.b.c', ['a.b.c', 'b.b.c']],
  ['a.*', ['a.b']],
  ['a.>', ['a.b', 'a.b.c', 'a.x.c', 'a.b.c.d']],
  ['>', ['a', 'a.b', 'a.b.c', 'a.x.c', 'b.b.c', 'a.b.c.d']],
  ['*', ['a']],
  ['a.b.>', ['a.b.c', 'a.b.c.d']],
];

describe('routing through a real broker', () => {
  it('delivers by the * and > rules', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    const subscribers = await Promise.all(matrix.map(() => connectClient(socketPath)));
    const inboxes = await Promise.all(matrix.map(([pattern], index) => collect(subscribers[index]!, pattern)));
    const sentinels = await Promise.all(subscribers.map((subscriber) => collect(subscriber, 'sentinel')));
    for (const topic of topics) publisher.publish(topic, topic);
    // Order per publisher is kept, so once a subscriber has the sentinel it has everything before it.
    publisher.publish('sentinel', null);
    for (const sentinel of sentinels) await waitForCount(sentinel, 1);
    matrix.forEach(([pattern, expected], index) => {
      const received = inboxes[index]!.map((message) => message.topic).filter((topic) => topic !== 'sentinel');
      expect({ pattern, topics: received }).toEqual({ pattern, topics: expected });
    });
  });

  it('keeps publish order per publisher for each subscriber, with data and headers intact', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    const first = await connectClient(socketPath);
    const second = await connectClient(socketPath);
    const inboxFirst = await collect(first, 'seq.>');
    const inboxSecond = await collect(second, 'seq.*');
    const count = 20_000;
    for (let index = 0; index < count; index++) {
      publisher.publish('seq.n', { index, bytes: Buffer.from([index & 0xff]) }, index % 1000 === 0 ? { headers: { mark: String(index) } } : {});
    }
    await waitForCount(inboxFirst, count);
    await waitForCount(inboxSecond, count);
    for (const inbox of [inboxFirst, inboxSecond]) {
      expect(inbox.map((message) => (message.data as { index: number }).index)).toEqual(Array.from({ length: count }, (_, index) => index));
      expect(inbox[1000]).toEqual({ topic: 'seq.n', data: { index: 1000, bytes: Buffer.from([1000 & 0xff]) }, headers: { mark: '1000' } });
      expect(inbox[1001]!.headers).toBeUndefined();
    }
  });

  it('echoes a client its own publishes unless it connected with noEcho', async () => {
    const { socketPath } = await startBroker();
    const echoing = await connectClient(socketPath);
    const quiet = await connectClient(socketPath, { noEcho: true });
    const echoed = await collect(echoing, 'echo.>');
    const quietInbox = await collect(quiet, 'echo.>');
    echoing.publish('echo.from-echoing', 1);
    quiet.publish('echo.from-quiet', 2);
    await waitForCount(echoed, 2);
    await waitForCount(quietInbox, 1);
    await quiet.flush();
    await echoing.flush();
    expect(echoed.map((message) => message.topic).sort()).toEqual(['echo.from-echoing', 'echo.from-quiet']);
    expect(quietInbox.map((message) => message.topic)).toEqual(['echo.from-echoing']);
  });

  it('gives each of a client\'s matching subscriptions the message, sent once by the broker', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    const subscriber = await connectClient(socketPath);
    const wide = await collect(subscriber, 'x.>');
    const narrow = await collect(subscriber, 'x.y');
    publisher.publish('x.y', 'once');
    await waitForCount(wide, 1);
    await waitForCount(narrow, 1);
    const stats = await subscriber.brokerStats();
    expect(stats['messagesOut']).toBe(1);
    expect(subscriber.counters.received).toBe(1);
  });

  it('stops delivering after unsubscribe', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    const kept: Message[] = [];
    const dropped: Message[] = [];
    client.subscribe('u.>', (message) => kept.push(message));
    const subscription = client.subscribe('u.>', (message) => dropped.push(message));
    client.publish('u.1', 1);
    await waitForCount(dropped, 1);
    subscription.unsubscribe();
    client.publish('u.2', 2);
    await waitForCount(kept, 2);
    expect(dropped.map((message) => message.data)).toEqual([1]);
    expect((await client.brokerStats())['subscriptions']).toBe(1);
  });

  it('answers invalid topics and patterns with a clear error and keeps the connection', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    expect(thrownBy(() => client.publish('a..b', 1))).toMatchObject({
      code: 'INVALID_TOPIC',
      message: 'invalid topic "a..b": empty token (two dots in a row, or a dot at either end)',
    });
    expect(thrownBy(() => client.publish('a.*', 1))).toMatchObject({
      code: 'INVALID_TOPIC',
      message: 'invalid topic "a.*": wildcard "*" is not allowed in a publish topic',
    });
    expect(thrownBy(() => client.subscribe('a.>.b'))).toMatchObject({
      code: 'INVALID_PATTERN',
      message: 'invalid pattern "a.>.b": ">" must be the last token',
    });
    expect(thrownBy(() => client.publish('$SYS.fake', 1))).toMatchObject({
      code: 'RESERVED_TOPIC',
      message: 'topic $SYS.fake is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them',
    });
    const inbox = await collect(client, 'still.works');
    client.publish('still.works', true);
    await waitForCount(inbox, 1);
  });

  it('refuses an oversize message before sending it', async () => {
    const { socketPath } = await startBroker({ args: ['--max-payload', '1024'] });
    const client = await connectClient(socketPath);
    expect(() => client.publish('big', Buffer.alloc(2000))).toThrow(/message of 20\d\d bytes exceeds the broker's limit of 1024 bytes/);
    const inbox = await collect(client, 'small');
    client.publish('small', Buffer.alloc(500));
    await waitForCount(inbox, 1);
  });

  it('reports the broker\'s counters', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath, { name: 'counter-check' });
    const inbox = await collect(client, 'c.>');
    client.publish('c.1', 'x');
    client.publish('nobody.listens', 'y');
    await waitForCount(inbox, 1);
    const stats = await client.brokerStats();
    expect(stats).toMatchObject({ connections: 1, connectionsTotal: 1, subscriptions: 1, messagesIn: 2, messagesOut: 1, dropped: 0, errors: 0 });
    expect(stats['clients']).toEqual([expect.objectContaining({ id: 1, name: 'counter-check', subscriptions: 1, messagesIn: 2 })]);
  });

  it('emits connect with the broker\'s limits', async () => {
    const { socketPath } = await startBroker({ args: ['--max-payload', '2048'] });
    const client = new Client({ path: socketPath });
    const info = await nextEvent<ConnectionInfo>(client, 'connect');
    expect(info).toMatchObject({ connectionId: 1, server: 'sockbusd 0.2.0', maxFrameBytes: 2048 });
    expect(client.state).toBe('connected');
    await client.close();
    expect(client.state).toBe('closed');
    expect(await client.closed).toBeUndefined();
  });

  it('never sends a frame longer than the maxBrokerFrameBytes its welcome announced: a stats answer is trimmed to fit', async () => {
    const { socketPath } = await startBroker({ args: ['--max-payload', '1024'] });
    await Promise.all(Array.from({ length: 30 }, (_, index) => connectClient(socketPath, { name: `client-${index}-${'n'.repeat(40)}` })));
    const raw = await RawConnection.open(socketPath);
    const welcome = raw.received[0] as Welcome;
    expect(welcome.maxBrokerFrameBytes).toBe(1024 + 1024);
    raw.sendValue([MessageKind.StatsRequest, 1]);
    const stats = (await raw.waitForKind(MessageKind.Stats)) as Stats;
    expect(stats.stats).toMatchObject({ clientsTotal: 31, clientsTruncated: true });
    expect(Math.max(...raw.rawBodies.map((body) => body.length))).toBeLessThanOrEqual(welcome.maxBrokerFrameBytes);
  });
});
