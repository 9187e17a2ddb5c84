import { afterEach, expect } from 'vitest';
import { connect, type Client, type ClientOptions, type Message } from '../../client/index.js';
import { waitFor } from './wait.js';

const clients = new Set<Client>();

/** Connects a client that is closed after the test. */
export async function connectClient(path: string, options: ClientOptions = {}): Promise<Client> {
  const client = await connect({ path, ...options });
  clients.add(client);
  return client;
}

/** Subscribes and collects every message; resolves once the broker has the subscription. */
export async function collect(client: Client, pattern: string): Promise<Message[]> {
  const received: Message[] = [];
  client.subscribe(pattern, (message) => received.push(message));
  await client.flush();
  return received;
}

export async function waitForCount(received: unknown[], count: number, what = 'messages', timeoutMs?: number): Promise<void> {
  await waitFor(() => received.length >= count, `${count} ${what} (have ${received.length})`, timeoutMs);
}

/** Waits until the broker holds `count` subscriptions, as seen by a short-lived observer. */
export async function waitForSubscriptions(socketPath: string, count: number): Promise<void> {
  const observer = await connectClient(socketPath);
  await waitFor(async () => (await observer.brokerStats())['subscriptions'] === count, `${count} subscription(s) at the broker`);
  await observer.close();
}

/**
 * A well-behaved publisher and subscriber of another user (root, beside an
 * attacker run as an ordinary user): `loseNothing` publishes a numbered
 * run and checks every number arrived once, in order, with nothing dropped,
 * and that the broker answered the publisher's ping within a generous deadline.
 */
export async function watchingPair(socketPath: string) {
  const publisher = await connectClient(socketPath, { name: 'pair-publisher' });
  const subscriber = await connectClient(socketPath, { name: 'pair-subscriber' });
  const inbox = await collect(subscriber, 'pair.>');
  let sent = 0;
  return {
    async loseNothing(count = 200): Promise<void> {
      for (let index = 0; index < count; index++) publisher.publish('pair.n', sent++);
      await publisher.flush();
      await waitForCount(inbox, sent, 'messages', 20_000);
      expect(inbox.map((message) => message.data)).toEqual(Array.from({ length: sent }, (_, index) => index));
      expect([subscriber.counters.droppedByBroker, subscriber.counters.droppedByClient]).toEqual([0, 0]);
    },
  };
}

afterEach(async () => {
  await Promise.all([...clients].map((client) => client.close()));
  clients.clear();
});
