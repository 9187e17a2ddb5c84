import { afterEach } from 'vitest';
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

afterEach(async () => {
  await Promise.all([...clients].map((client) => client.close()));
  clients.clear();
});
