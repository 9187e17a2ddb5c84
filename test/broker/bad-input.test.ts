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

const fatalCases: Array<[name: string, hello: boolean, send: (raw: RawConnection) => void, code: string, message: RegExp]> = [
  ['a frame announcing more than the limit', true, (raw) => raw.sendBytes(lengthPrefix(1024 * 1024 + 1)), 'FRAME_TOO_LARGE', /^frame of 1048577 bytes exceeds the limit of 1048576 bytes$/],
  ['a frame length of 2^32-1', true, (raw) => raw.sendBytes([0xff, 0xff, 0xff, 0xff]), 'FRAME_TOO_LARGE', /^frame of 4294967295 bytes exceeds the limit of 1048576 bytes$/],
  ['a frame length of 0', true, (raw) => raw.sendBytes([0, 0, 0, 0]), 'MALFORMED_FRAME', /^frame of length 0/],
  ['malformed msgpack', true, (raw) => raw.sendBytes(encodeFrame(Buffer.from([0x92, 0x07, 0xc1]))), 'MALFORMED_FRAME', /^byte 0xc1 at 2 is not valid msgpack$/],
  ['an unknown message kind', true, (raw) => raw.sendValue([42, 'x']), 'UNKNOWN_MESSAGE_KIND', /^unknown message kind 42 from a client$/],
  ['a message of the wrong shape', true, (raw) => raw.sendValue({ publish: 'a.b' }), 'INVALID_MESSAGE', /^expected an array at byte 0$/],
  ['data before the handshake', false, (raw) => raw.sendValue([MessageKind.Publish, 'a.b', 1]), 'HANDSHAKE_REQUIRED', /^the first message on a connection must be hello$/],
  ['an unsupported protocol version', false, (raw) => raw.sendValue([MessageKind.Hello, { version: 7 }]), 'UNSUPPORTED_VERSION', /^protocol version 7 is not supported; this broker speaks version 1$/],
  ['a second hello', true, (raw) => raw.sendValue([MessageKind.Hello, { version: 1 }]), 'INVALID_MESSAGE', /^hello was already received on this connection$/],
  ['a frame length just above the limit', true, (raw) => raw.sendBytes(lengthPrefix(1024 * 1024 + 1)), 'FRAME_TOO_LARGE', /^frame of 1048577 bytes/],
  // Valid msgpack of the wrong shape, for every kind a client may send.
  ['hello: options not a map', false, (raw) => raw.sendValue([MessageKind.Hello, 'v1']), 'INVALID_MESSAGE', /^hello: element 1 must be a map$/],
  ['hello: version a string', false, (raw) => raw.sendValue([MessageKind.Hello, { version: '1' }]), 'INVALID_MESSAGE', /^hello: "version" must be an integer$/],
  ['publish: topic a number', true, (raw) => raw.sendValue([MessageKind.Publish, 7, 1]), 'INVALID_MESSAGE', /^expected a string at byte 2$/],
  ['publish: no data', true, (raw) => raw.sendValue([MessageKind.Publish, 'a']), 'INVALID_MESSAGE', /^publish: expected \[3, topic, data\]/],
  ['publish: headers an array', true, (raw) => raw.sendValue([MessageKind.Publish, 'a', 1, ['h']]), 'INVALID_MESSAGE', /^expected publish headers \(a map of strings\)/],
  ['subscribe: id a string', true, (raw) => raw.sendValue([MessageKind.Subscribe, 'one', 'a']), 'INVALID_MESSAGE', /^subscribe: element 1 must be a non-negative integer$/],
  ['subscribe: pattern missing', true, (raw) => raw.sendValue([MessageKind.Subscribe, 1]), 'INVALID_MESSAGE', /^subscribe: element 2 must be a string$/],
  ['unsubscribe: id negative', true, (raw) => raw.sendValue([MessageKind.Unsubscribe, -1]), 'INVALID_MESSAGE', /^unsubscribe: element 1 must be a non-negative integer$/],
  ['ping: token a map', true, (raw) => raw.sendValue([MessageKind.Ping, {}]), 'INVALID_MESSAGE', /^ping: element 1 must be a non-negative integer$/],
  ['pong: no token', true, (raw) => raw.sendValue([MessageKind.Pong]), 'INVALID_MESSAGE', /^pong: element 1 must be a non-negative integer$/],
  ['stats-request: token a float', true, (raw) => raw.sendValue([MessageKind.StatsRequest, 1.5]), 'INVALID_MESSAGE', /^stats-request: element 1 must be a non-negative integer$/],
  ['an array of nothing', true, (raw) => raw.sendValue([]), 'INVALID_MESSAGE', /first element is its kind/],
];

describe('bad input against a live broker', () => {
  it.each(fatalCases)('%s: an error frame, then close; others unaffected', async (_name, hello, send, code, message) => {
    const broker = await startBroker();
    const others = await bystanders(broker);
    const raw = await RawConnection.open(broker.socketPath, { hello });
    send(raw);
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toMatchObject({ code });
    expect((error as { message: string }).message).toMatch(message);
    await raw.waitForClose();
    await others.stillWork();
    expect(broker.child.running).toBe(true);
  });

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

  it.each([
    ['an invalid topic', [MessageKind.Publish, 'a..b', 1], 'INVALID_TOPIC', 'invalid topic "a..b": empty token (two dots in a row, or a dot at either end)'],
    ['a wildcard in a publish topic', [MessageKind.Publish, 'a.>', 1], 'INVALID_TOPIC', 'invalid topic "a.>": wildcard ">" is not allowed in a publish topic'],
    ['a publish on $SYS.', [MessageKind.Publish, '$SYS.stats', 1], 'RESERVED_TOPIC', 'topic $SYS.stats is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them'],
    ['an invalid pattern', [MessageKind.Subscribe, 3, 'a.>.b'], 'INVALID_PATTERN', 'invalid pattern "a.>.b": ">" must be the last token'],
    ['a pattern with whitespace', [MessageKind.Subscribe, 3, 'a b'], 'INVALID_PATTERN', 'invalid pattern "a b": whitespace and control characters are not allowed'],
    ['an over-long topic', [MessageKind.Publish, 'x'.repeat(300), 1], 'INVALID_TOPIC', 'invalid topic: 300 bytes is longer than the limit of 256 bytes'],
  ])('%s: an error naming it, and the connection stays usable', async (_name, value, code, message) => {
    const broker = await startBroker();
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendValue(value);
    raw.sendValue([MessageKind.Ping, 99]);
    await raw.waitForKind(MessageKind.Pong);
    expect(raw.received.find((received) => received.kind === MessageKind.Error)).toMatchObject({ code, message });
    expect(raw.closed).toBe(false);
  });

  it('a topic that is not UTF-8 is refused as an invalid topic, and the connection stays usable', async () => {
    const broker = await startBroker();
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendBytes(encodeFrame(Buffer.from([0x93, MessageKind.Publish, 0xa2, 0xc3, 0x28, 0x01])));
    raw.sendValue([MessageKind.Ping, 1]);
    await raw.waitForKind(MessageKind.Pong);
    expect(raw.received.find((received) => received.kind === MessageKind.Error)).toMatchObject({ code: 'INVALID_TOPIC', message: 'invalid topic: not valid UTF-8 (at byte 3)' });
  });

  it('a duplicate subscription id is refused with the id', async () => {
    const broker = await startBroker();
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendValue([MessageKind.Subscribe, 5, 'a']);
    raw.sendValue([MessageKind.Subscribe, 5, 'b']);
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toEqual({ kind: MessageKind.Error, code: 'INVALID_MESSAGE', message: 'subscription id 5 is already in use on this connection', subscriptionId: 5 });
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
        subscriptionId: 10_001,
      },
    ]);
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
