import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { ClientIdentity, Message } from '../../client/index.js';
import { MessageKind } from '../../protocol/index.js';
import { startBroker, startCli } from '../helpers/broker.js';
import { collect, connectClient } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';

/** The data of `$SYS.client.connected`, and of `.disconnected` with its reason (PROTOCOL.md §3.15). */
type Presence = ClientIdentity & { reason?: string };

async function presenceEvents(socketPath: string): Promise<Message<Presence>[]> {
  const host = await connectClient(socketPath, { name: 'host' });
  return (await collect(host, '$SYS.client.>')) as Message<Presence>[];
}

function eventsFor(events: Message<Presence>[], name: string): Array<[string, Presence]> {
  return events.filter((event) => event.data.name === name).map((event) => [event.topic, event.data]);
}

describe('presence', () => {
  it('announces a client connecting and closing cleanly', async () => {
    const { socketPath } = await startBroker();
    const events = await presenceEvents(socketPath);
    const plugin = await connectClient(socketPath, { name: 'plugin-a' });
    const id = (await plugin.clients()).find((client) => client.name === 'plugin-a')!.id;
    await plugin.close();
    await waitFor(() => eventsFor(events, 'plugin-a').length === 2, 'plugin-a to come and go');
    // The plugin runs in this test's process: the kernel reports our own uid and pid for it, and the user database our name.
    const who = { id, name: 'plugin-a', uid: process.getuid!(), user: userInfo().username, pid: process.pid };
    expect(eventsFor(events, 'plugin-a')).toEqual([
      ['$SYS.client.connected', who],
      ['$SYS.client.disconnected', { ...who, reason: 'closed by the client: the client was closed' }],
    ]);
  });

  it('tells a killed client from a clean close, and names the error when the broker closed the connection', async () => {
    const { socketPath } = await startBroker();
    const events = await presenceEvents(socketPath);
    const plugin = startCli(['sub', 'anything', '--socket', socketPath, '--name', 'plugin-b']);
    await waitFor(() => eventsFor(events, 'plugin-b').length === 1, 'plugin-b to connect');
    await plugin.kill('SIGKILL');
    await waitFor(() => eventsFor(events, 'plugin-b').length === 2, 'plugin-b to be seen gone');
    expect(eventsFor(events, 'plugin-b')[1]![1].reason).toBe('the connection ended without a goodbye (the client exited or was killed)');

    const raw = await RawConnection.open(socketPath);
    raw.sendValue([MessageKind.Hello, { version: 2 }]);
    await raw.waitForClose();
    await waitFor(() => events.some((event) => event.topic === '$SYS.client.disconnected' && event.data.name === 'raw'), 'the raw client to be seen gone');
    const gone = events.find((event) => event.topic === '$SYS.client.disconnected' && event.data.name === 'raw')!;
    expect(gone.data.reason).toBe('INVALID_MESSAGE: hello was already received on this connection');
  });

  it('reports a client that dies with messages unread (its end is reset, not closed) as gone without a goodbye', async () => {
    const { socketPath } = await startBroker();
    const events = await presenceEvents(socketPath);
    const raw = await RawConnection.open(socketPath);
    raw.sendValue([MessageKind.Subscribe, 1, 'flood']);
    raw.sendValue([MessageKind.Ping, 1]);
    await raw.waitForKind(MessageKind.Pong);
    raw.socket.pause();
    const publisher = await connectClient(socketPath);
    for (let n = 0; n < 1000; n++) publisher.publish('flood', 'x'.repeat(1000)); // more than it and the kernel buffer
    await publisher.flush();
    raw.socket.destroy(); // with the flood unread in its receive queue
    await waitFor(() => events.some((event) => event.topic === '$SYS.client.disconnected' && event.data.name === 'raw'), 'the raw client to be seen gone');
    const gone = events.find((event) => event.topic === '$SYS.client.disconnected' && event.data.name === 'raw')!;
    expect(gone.data.reason).toBe('the connection ended without a goodbye (the client exited or was killed)');
  });

  it('is not seen by a subscriber to everything, and lists who is connected on request', async () => {
    const { socketPath } = await startBroker();
    const everything = await collect(await connectClient(socketPath, { name: 'all' }), '>');
    await connectClient(socketPath, { name: 'editor' });
    const asker = await connectClient(socketPath, { name: 'asker' });
    expect((await asker.clients()).map((client) => client.name)).toEqual(['all', 'editor', 'asker']);
    asker.publish('mark', 1);
    await waitFor(() => everything.length > 0, 'the mark');
    expect(everything.map((message) => message.topic)).toEqual(['mark']);
  });
});
