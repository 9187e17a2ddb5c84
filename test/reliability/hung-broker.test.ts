import { renameSync, rmSync, writeFileSync, lstatSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { SockbusError } from '../../client/index.js';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

describe('a hung broker', () => {
  it('is detected by ping timeouts, reported, and recovered from when it continues', async () => {
    const broker = await startBroker({ args: ['--keepalive', '200'] });
    const fast = { pingIntervalMs: 150, pingTimeoutMs: 150, handshakeTimeoutMs: 1000 };
    const subscriber = await connectClient(broker.socketPath, { name: 'subscriber', ...fast });
    const publisher = await connectClient(broker.socketPath, { name: 'publisher', ...fast });
    const inbox = await collect(subscriber, 'hung.>');
    publisher.publish('hung.before', 1);
    await waitForCount(inbox, 1);

    // Both clients must notice on their own before the broker continues; one
    // that had not would simply find the broker answering again.
    const detected = Promise.all([nextEvent<SockbusError>(subscriber, 'disconnect'), nextEvent<SockbusError>(publisher, 'disconnect')]);
    process.kill(broker.child.pid, 'SIGSTOP');
    const [reason, publisherReason] = await detected;
    expect(reason.code).toBe('BROKER_UNRESPONSIVE');
    expect(publisherReason.code).toBe('BROKER_UNRESPONSIVE');
    expect(reason.message).toMatch(/^the broker on .* did not answer for \d+ ms; it may be hung$/);

    const back = Promise.all([nextEvent(subscriber, 'reconnect', 20_000), nextEvent(publisher, 'reconnect', 20_000)]);
    process.kill(broker.child.pid, 'SIGCONT');
    await back;
    await subscriber.flush();
    publisher.publish('hung.after', 2);
    await waitForCount(inbox, 2);
    expect(inbox.map((message) => message.data)).toEqual([1, 2]);

    // The connections the clients abandoned while the broker was stopped are gone, not written to forever.
    await waitFor(async () => ((await publisher.brokerStats())['connections'] as number) === 2, 'only the two live connections to remain');
  });

  it('closes connections whose peer stopped answering (a hung or SIGSTOPped client)', async () => {
    const broker = await startBroker({ args: ['--keepalive', '100'] });
    const observer = await connectClient(broker.socketPath);
    // Says hello, then never answers anything again: to the broker, a frozen process.
    const frozen = await RawConnection.open(broker.socketPath);
    await frozen.waitForKind(MessageKind.Ping);
    await frozen.waitForClose();
    // stderr is a pipe of its own: its line may arrive after the socket closed.
    await waitFor(() => broker.child.stderr.includes('closed: TIMEOUT: no answer to a keepalive ping within 100 ms'), 'the broker to log why');
    expect(observer.state).toBe('connected');
    await observer.flush();
  });
});

describe('the socket file removed or replaced under a running broker', () => {
  it('is re-created within seconds, and clients reconnect to it', async () => {
    const broker = await startBroker({ args: ['--socket-check', '100'] });
    const client = await connectClient(broker.socketPath);
    const inbox = await collect(client, 'file.>');
    const before = lstatSync(broker.socketPath).ino;
    rmSync(broker.socketPath); // what a /tmp cleaner does
    await waitFor(() => {
      try {
        return lstatSync(broker.socketPath).ino !== before;
      } catch {
        return false;
      }
    }, 'the broker to re-create its socket file');
    // The file appears at bind time; the log line follows it and crosses a pipe.
    await waitFor(
      () => broker.child.stderr.includes(`socket file ${broker.socketPath} had been removed or replaced; re-created it`),
      'the broker to report the re-creation',
    );
    // The existing connection never noticed; a new client can reach the broker again.
    const late = await connectClient(broker.socketPath);
    late.publish('file.after', 'reachable');
    await waitForCount(inbox, 1);
  });

  it('a regular file put at the path is left alone and reported; once the path is free the socket comes back', async () => {
    const broker = await startBroker({ args: ['--socket-check', '100'] });
    renameSync(broker.socketPath, `${broker.socketPath}.away`);
    writeFileSync(broker.socketPath, 'not yours');
    await waitFor(() => broker.child.stderr.includes('cannot be re-created'), 'the broker to refuse the regular file');
    expect(broker.child.stderr).toContain(`${broker.socketPath} exists and is a regular file, not a socket; refusing to replace it`);
    rmSync(broker.socketPath);
    await waitFor(() => broker.child.stderr.includes('re-created it'), 'the broker to re-create its socket once the path is free');
    const client = await connectClient(broker.socketPath);
    await client.flush();
  });

  it('a live socket of another program put at the path is never clobbered', async () => {
    const broker = await startBroker({ args: ['--socket-check', '100'] });
    renameSync(broker.socketPath, `${broker.socketPath}.away`);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(broker.socketPath, resolve));
    try {
      const squatterFile = lstatSync(broker.socketPath).ino;
      await waitFor(() => broker.child.stderr.includes('cannot be re-created'), 'the broker to report the live socket');
      expect(broker.child.stderr).toContain(`cannot be re-created: another broker is listening on ${broker.socketPath}`);
      expect(lstatSync(broker.socketPath).ino).toBe(squatterFile);
    } finally {
      squatter.close();
    }
  });
});
