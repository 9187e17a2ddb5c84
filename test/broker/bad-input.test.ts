import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeFrame, MessageKind } from '../../protocol/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';

function lengthPrefix(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

/** A healthy publisher and subscriber on the same broker, to prove a bad client harms nobody else. */
async function bystanders(broker: TestBroker) {
  const publisher = await connectClient(broker.socketPath);
  const subscriber = await connectClient(broker.socketPath);
  const inbox = await collect(subscriber, 'healthy.>');
  return {
    async stillWork(): Promise<void> {
      for (let index = 0; index < 100; index++) publisher.publish('healthy.n', index);
      await waitForCount(inbox, 100);
      expect(inbox.map((message) => message.data)).toEqual(Array.from({ length: 100 }, (_, index) => index));
    },
  };
}

// Each malformed or refused frame and its exact answer is a conformance vector: see conformance.test.ts.

describe('bad input against a live broker', () => {
  it('refuses an oversize frame without reading its body', async () => {
    const broker = await startBroker({ args: ['--max-payload', '4096'] });
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendBytes(lengthPrefix(10 * 1024 * 1024));
    // The body never comes; the broker must answer from the header alone.
    await raw.waitForKind(MessageKind.Error);
    await raw.waitForClose();
  });

  it('a truncated frame followed by close leaves the broker and others fine', async () => {
    const broker = await startBroker();
    const others = await bystanders(broker);
    const raw = await RawConnection.open(broker.socketPath);
    const frame = encodeFrame(pack([MessageKind.Publish, 'healthy.x', 'never finished']));
    raw.sendBytes(frame.subarray(0, frame.length - 3));
    raw.socket.end();
    await raw.waitForClose();
    await others.stillWork();
  });

  it('a frame that never completes (slowloris) is cut after the frame timeout', async () => {
    const broker = await startBroker({ args: ['--frame-timeout', '300'] });
    const others = await bystanders(broker);
    const raw = await RawConnection.open(broker.socketPath);
    const frame = encodeFrame(pack([MessageKind.Publish, 'healthy.x', 'x'.repeat(100)]));
    raw.sendBytes(frame.subarray(0, 20));
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toMatchObject({ code: 'TIMEOUT', message: 'a frame was still incomplete 300 ms after it started' });
    await raw.waitForClose();
    await others.stillWork();
  });

  it('a connection that never says hello is cut after the handshake timeout', async () => {
    const broker = await startBroker({ args: ['--handshake-timeout', '300'] });
    const others = await bystanders(broker);
    const raw = await RawConnection.open(broker.socketPath, { hello: false });
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toMatchObject({ code: 'TIMEOUT', message: 'no hello within 300 ms of connecting' });
    await raw.waitForClose();
    await others.stillWork();
  });

  it('10,000 subscriptions fill the cap; the next gets a clear error and the connection stays usable', async () => {
    const broker = await startBroker();
    const others = await bystanders(broker);
    const raw = await RawConnection.open(broker.socketPath);
    for (let id = 1; id <= 10_001; id++) raw.sendValue([MessageKind.Subscribe, id, `many.${id}`]);
    raw.sendValue([MessageKind.Ping, 1]);
    await raw.waitForKind(MessageKind.Pong);
    const errors = raw.received.filter((message) => message.kind === MessageKind.Error);
    expect(errors).toEqual([
      {
        kind: MessageKind.Error,
        code: 'TOO_MANY_SUBSCRIPTIONS',
        message: 'this connection already holds 10000 subscriptions, the most the broker allows (--max-subscriptions)',
        about: { kind: MessageKind.Subscribe, sub: 10_001 },
      },
    ]);
    // Every one it took was acknowledged, in order, before the pong.
    const acknowledged = raw.received.filter((message) => message.kind === MessageKind.Subscribed).map((message) => (message as { subscriptionId: number }).subscriptionId);
    expect(acknowledged).toEqual(Array.from({ length: 10_000 }, (_, index) => index + 1));
    expect(raw.closed).toBe(false);
    await others.stillWork();
  });

  it('a connection past --max-connections gets a clear error, then is closed; the others carry on', async () => {
    // All four are root's: let one user take every slot, to reach the broker-wide limit.
    const broker = await startBroker({ args: ['--max-connections', '3', '--max-connections-per-uid', '3'] });
    const others = await bystanders(broker); // two connections
    const third = await RawConnection.open(broker.socketPath);
    const fourth = await RawConnection.open(broker.socketPath, { hello: false });
    const error = await fourth.waitForKind(MessageKind.Error);
    expect(error).toMatchObject({ code: 'TOO_MANY_CONNECTIONS', message: 'the broker already serves 3 connections, the most it allows (--max-connections)' });
    await fourth.waitForClose();
    expect(third.closed).toBe(false);
    await others.stillWork();
  });

  it('counts the errors it reported', async () => {
    const broker = await startBroker();
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendValue([MessageKind.Publish, 'a..b', 1]);
    raw.sendValue([MessageKind.StatsRequest, 1]);
    const stats = await raw.waitForKind(MessageKind.Stats);
    expect((stats as { stats: Record<string, unknown> }).stats['errors']).toBe(1);
  });
});
