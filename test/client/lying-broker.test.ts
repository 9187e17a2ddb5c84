import { describe, expect, it } from 'vitest';
import type { DroppedNotice, SockbusError } from '../../client/index.js';
import { startCli } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { FakeBroker, type FakeConnection } from '../helpers/fake-broker.js';

/** Issue 11, "hung or lying broker" and "undecodable delivery": brokers that welcome, then misbehave. */

const fast = { pingIntervalMs: 100, pingTimeoutMs: 100 };

/** Sends the client a ping every 30 ms and never answers one: it talks, so it never looks silent. */
function chattyButDeaf(connection: FakeConnection): void {
  const timer = setInterval(() => connection.send([7, 99]), 30);
  connection.socket.on('close', () => clearInterval(timer));
}

const rejection = (promise: Promise<unknown>) => promise.then(() => new Error('expected a rejection'), (error: SockbusError) => error);

describe('a broker that stops answering after its welcome', () => {
  it('silent: flush(), brokerStats() and request() reject once the heartbeat declares it hung (row: hung broker)', async () => {
    const broker = await FakeBroker.start({ pong: false });
    const client = await connectClient(broker.path, fast);
    const flushed = rejection(client.flush());
    const stats = rejection(client.brokerStats());
    const replied = rejection(client.request('question', null, { timeout: 20_000 }));
    const hung = /^the broker on .* did not answer for \d+ ms; it may be hung$/;
    for (const error of [await flushed, await stats]) {
      expect(error.code).toBe('BROKER_UNRESPONSIVE');
      expect(error.message).toMatch(hung);
    }
    const request = await replied;
    expect(request.code).toBe('CONNECTION_CLOSED');
    expect(request.message).toMatch(
      /^the connection to the broker was lost before the reply to the request on question arrived \(the broker on .* did not answer for \d+ ms; it may be hung\)$/,
    );
  });

  it('talking but never answering a ping: flush() and brokerStats() reject, they do not hang (row: lying broker)', async () => {
    const broker = await FakeBroker.start({ pong: false, onWelcomed: chattyButDeaf });
    const client = await connectClient(broker.path, fast);
    const startedAt = Date.now();
    const flushed = await rejection(client.flush());
    expect(flushed.code).toBe('BROKER_UNRESPONSIVE');
    expect(flushed.message).toMatch(new RegExp(`^the broker on ${broker.path} left a ping unanswered for \\d+ ms; it may be hung$`));
    expect(Date.now() - startedAt).toBeLessThan(5_000);

    await nextEvent(client, 'reconnect');
    const stats = await rejection(client.brokerStats());
    expect(stats.message).toMatch(/^the broker on .* left a stats request unanswered for \d+ ms; it may be hung$/);
  });

  it('talking but never answering a ping: `sockbus pub` exits 1 after the heartbeat\'s 10 s, saying why (row: lying broker)', async () => {
    const broker = await FakeBroker.start({ pong: false, onWelcomed: chattyButDeaf });
    const pub = startCli(['pub', 'topic', '1', '--socket', broker.path]);
    pub.process.stdin!.end();
    await pub.waitForExit(20_000);
    expect(pub.exitCode).toBe(1);
    expect(pub.stderr).toMatch(new RegExp(`^sockbus: the broker on ${broker.path} left a ping unanswered for \\d+ ms; it may be hung\\n$`));
  }, 30_000);
});

describe('a broker that sends a bad frame after its welcome', () => {
  it('is redialled with backoff, not in a tight loop (row: lying broker; 56,624 reconnects in 10 s before)', async () => {
    const broker = await FakeBroker.start({ onWelcomed: (connection) => connection.sendBytes(Buffer.alloc(4)) });
    const client = await connectClient(broker.path);
    const reasons: SockbusError[] = [];
    client.on('disconnect', (reason) => reasons.push(reason));
    const startedAt = Date.now();
    await waitFor(() => broker.connections >= 6, 'six connections');
    // The default backoff waits at least 10, 20, 40, 80 and 160 ms before dials 2 to 6.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
    expect(reasons[0]!.code).toBe('MALFORMED_FRAME');
    expect(reasons[0]!.message).toBe('bad frame from the broker: frame of length 0: a frame must hold one msgpack value');
  });
});

describe('a delivery the client cannot decode', () => {
  it('is counted as dropped by the client, with the reason, as well as reported as an error (row: undecodable delivery)', async () => {
    // [6, "odd.x", <nested deeper than the decoder goes>]: valid msgpack, well framed, undecodable here.
    const deep = Buffer.concat([Buffer.from([0x93, 0x06, 0xa5]), Buffer.from('odd.x'), Buffer.alloc(400_000, 0x91), Buffer.from([0xc0])]);
    const frame = Buffer.alloc(4);
    frame.writeUInt32BE(deep.length);
    const broker = await FakeBroker.start({
      // The undecodable delivery is the subscribe's only answer.
      subscribed: false,
      onFrame: (connection, message) => {
        if (message[0] === 4) connection.sendBytes(Buffer.concat([frame, deep]));
      },
    });
    const client = await connectClient(broker.path);
    const dropped: DroppedNotice[] = [];
    const errors: SockbusError[] = [];
    client.on('dropped', (notice) => dropped.push(notice));
    client.on('error', (error) => errors.push(error));
    client.subscribe('odd.>', () => undefined);
    await waitFor(() => dropped.length === 1, 'the drop to be reported');
    expect(errors).toHaveLength(1);
    expect(dropped[0]).toEqual({ source: 'client', count: 1, reason: errors[0]!.message });
    expect(dropped[0]!.reason).toMatch(/^skipped a frame from the broker that could not be decoded: /);
    expect(client.counters.droppedByClient).toBe(1);
    expect(client.state).toBe('connected');
  });
});
