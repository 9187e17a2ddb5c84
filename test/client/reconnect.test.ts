import { describe, expect, it } from 'vitest';
import { connect, exponentialBackoff, type DroppedNotice, type Message } from '../../client/index.js';
import { encodePublishBody } from '../../protocol/index.js';
import { restartBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { socketAppearedDelay } from '../../client/socket-watch.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A second path to the broker that the test can take away and give back.
 * Two clients reconnect in no fixed order; a publisher that came back
 * first would send its buffer before the subscriber had resubscribed. The
 * test holds the publisher off until the subscriber is back.
 */
function gatedPath(socketPath: string) {
  const path = join(makeTempDir(), 'gate.sock');
  symlinkSync(socketPath, path);
  return { path, close: () => unlinkSync(path), open: () => symlinkSync(socketPath, path) };
}

describe('surviving broker restarts', () => {
  it('reconnects after SIGKILL, restores subscriptions, and delivers what was published while the broker was down', async () => {
    const broker = await startBroker();
    const gate = gatedPath(broker.socketPath);
    const subscriber = await connectClient(broker.socketPath, { name: 'subscriber' });
    const publisher = await connectClient(gate.path, { name: 'publisher' });
    const inbox = await collect(subscriber, 'restart.>');
    publisher.publish('restart.before', 0);
    await waitForCount(inbox, 1);

    const subscriberBack = nextEvent(subscriber, 'reconnect');
    const publisherBack = nextEvent(publisher, 'reconnect');
    const publisherGone = nextEvent(publisher, 'disconnect');
    await broker.child.kill('SIGKILL');
    await publisherGone;
    gate.close();
    expect(publisher.state).toBe('reconnecting');
    // Published while no broker runs: buffered by the client, in order.
    for (let index = 1; index <= 100; index++) publisher.publish('restart.during', index);

    await restartBroker(broker);
    await subscriberBack;
    await subscriber.flush();
    gate.open();
    await publisherBack;
    await waitForCount(inbox, 101);
    expect(inbox.map((message) => message.data)).toEqual(Array.from({ length: 101 }, (_, index) => index));
    expect(publisher.counters).toMatchObject({ reconnects: 1, droppedByClient: 0 });

    // And the restored subscription keeps working for new traffic.
    publisher.publish('restart.after', 'after');
    await waitForCount(inbox, 102);
  });

  it('the subscription is restored before the buffered publishes are sent, so a client hears its own', async () => {
    const broker = await startBroker();
    const client = await connectClient(broker.socketPath);
    const inbox = await collect(client, 'self.>');
    const back = nextEvent(client, 'reconnect');
    await broker.child.kill('SIGKILL');
    await waitFor(() => client.state === 'reconnecting', 'the client to notice');
    client.publish('self.note', 'while away');
    await restartBroker(broker);
    await back;
    await waitForCount(inbox, 1);
    expect(inbox[0]).toEqual({ topic: 'self.note', data: 'while away' });
  });

  it('bounds the offline queue: the oldest give way and the loss is counted and reported', async () => {
    const broker = await startBroker();
    const gate = gatedPath(broker.socketPath);
    const subscriber = await connectClient(broker.socketPath);
    const publisher = await connectClient(gate.path, { offlineQueueMessages: 50 });
    const inbox = await collect(subscriber, 'bounded.>');
    const drops: DroppedNotice[] = [];
    publisher.on('dropped', (notice) => drops.push(notice));
    await broker.child.kill('SIGKILL');
    await waitFor(() => publisher.state === 'reconnecting', 'the publisher to notice');
    gate.close();
    for (let index = 0; index < 80; index++) publisher.publish('bounded.n', index);
    expect(publisher.counters.droppedByClient).toBe(30);
    expect(drops.reduce((sum, notice) => sum + notice.count, 0)).toBe(30);
    expect(drops[0]).toEqual({ source: 'client', count: 1, reason: 'the offline queue was full while disconnected' });

    const subscriberBack = nextEvent(subscriber, 'reconnect');
    await restartBroker(broker);
    await subscriberBack;
    await subscriber.flush();
    gate.open();
    await publisher.flush();
    await waitForCount(inbox, 50);
    expect(inbox.map((message) => message.data)).toEqual(Array.from({ length: 50 }, (_, index) => index + 30));
  });

  it('bounds the offline queue by bytes too', async () => {
    const broker = await startBroker();
    const publisher = await connectClient(broker.socketPath, { offlineQueueBytes: 10_000 });
    await broker.child.kill('SIGKILL');
    await waitFor(() => publisher.state === 'reconnecting', 'the publisher to notice');
    for (let index = 0; index < 20; index++) publisher.publish('bytes.n', Buffer.alloc(1000));
    // The queue holds encoded publishes: as many whole ones as fit its bytes stay, the rest are dropped.
    const publishBytes = encodePublishBody('bytes.n', Buffer.alloc(1000)).length;
    const kept = Math.floor(10_000 / publishBytes);
    expect(kept).toBeLessThan(20);
    expect(publisher.counters.droppedByClient).toBe(20 - kept);
  });

  it('emits status changes in order through a restart', async () => {
    const broker = await startBroker();
    const client = await connectClient(broker.socketPath);
    const states: string[] = [];
    client.on('status', (state) => states.push(state));
    const back = nextEvent(client, 'reconnect');
    await broker.child.kill('SIGKILL');
    await restartBroker(broker);
    await back;
    await client.close();
    expect(states).toEqual(['reconnecting', 'connected', 'closed']);
  });

  it('rejects connect with a clear error when no broker is running', async () => {
    const path = join(makeTempDir(), 'nobody-home.sock');
    await expect(connect({ path })).rejects.toMatchObject({
      code: 'BROKER_UNAVAILABLE',
      message: `no broker is listening on ${path} (is sockbusd running?)`,
    });
  });

  it('waits for a broker that starts later when asked to', async () => {
    const path = join(makeTempDir(), 'later.sock');
    const connecting = connect({ path, waitForBroker: true });
    await startBroker({ socketPath: path });
    const client = await connecting;
    expect(client.state).toBe('connected');
    await client.close();
  });

  it('gives up when its reconnect policy says so, and says why', async () => {
    const broker = await startBroker();
    const client = await connectClient(broker.socketPath, { reconnectPolicy: exponentialBackoff({ maxAttempts: 3, initialDelayMs: 5 }) });
    const iterator = client.subscribe('gone.>')[Symbol.asyncIterator]();
    const pending = iterator.next();
    await broker.child.kill('SIGKILL');
    const failure = await client.closed;
    expect(failure).toMatchObject({ code: 'BROKER_UNAVAILABLE' });
    expect(client.state).toBe('closed');
    await expect(pending).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });
    expect(() => client.publish('x', 1)).toThrow('the client is closed');
  });

  it('a subscription read with for await ends when it is unsubscribed', async () => {
    const broker = await startBroker();
    const client = await connectClient(broker.socketPath);
    const subscription = client.subscribe('iter.>');
    await client.flush();
    client.publish('iter.a', 1);
    client.publish('iter.b', 2);
    const seen: Message[] = [];
    for await (const message of subscription) {
      seen.push(message);
      if (seen.length === 2) subscription.unsubscribe();
    }
    expect(seen.map((message) => message.topic)).toEqual(['iter.a', 'iter.b']);
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter up to the cap', () => {
    const lowest = exponentialBackoff({ initialDelayMs: 10, maxDelayMs: 1000, random: () => 0 });
    const highest = exponentialBackoff({ initialDelayMs: 10, maxDelayMs: 1000, random: () => 0.999999 });
    expect([0, 1, 2, 3, 10, 50].map(lowest)).toEqual([5, 10, 20, 40, 500, 500]);
    expect([0, 1, 2, 3, 10, 50].map(highest)).toEqual([10, 20, 40, 80, 1000, 1000]);
    expect(exponentialBackoff({ maxAttempts: 2 })(2)).toBeNull();
  });

  it('waits a delay of its own below 100 ms once a new socket file appears, not none (PROTOCOL.md §8)', () => {
    expect([0, 0.5, 0.999999].map((value) => socketAppearedDelay(() => value))).toEqual([0, 50, 99]);
  });
});
