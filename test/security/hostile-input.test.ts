import { describe, expect, it } from 'vitest';
import { MessageKind } from '../../protocol/index.js';
import { startSharedBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, watchingPair } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { ALICE, readableCopyOfProject, spawnAs } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';


describe('no client input can end the broker', () => {
  // Attack row: "flood frames whose answers are control frames and never read": the broker used to exit with a stack overflow.
  it('cuts a user who floods control answers without reading them, and stays up for everyone else', async () => {
    const broker = await startSharedBroker(['--max-pending', '65536']);
    const pair = await watchingPair(broker.socketPath);
    const flood = spawnAs(ALICE, readableCopyOfProject(), 'fixtures/control-flood.mjs', [broker.socketPath, '2000000']);
    await flood.waitForExit(60_000);
    expect(flood.stderr + flood.stdout).toMatch(/^closed after \d+ frames\n$/);
    expect(broker.child.running).toBe(true);
    expect(broker.child.stderr).toMatch(/closed: SLOW_CONSUMER: outbound buffer is full and the client does not read its replies/);
    expect(broker.child.stderr).not.toMatch(/RangeError|Maximum call stack/);
    await pair.loseNothing();
  });

  // Attack row: "deep nesting or extension types in publish options": INTERNAL_ERROR with a stack trace in the log.
  it('ignores an extension type under an unknown publish option, as any unknown key, with no internal error', async () => {
    const broker = await startSharedBroker();
    const pair = await watchingPair(broker.socketPath);
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendBytes(publishWithOptions([MessageKind.Publish, 'a.b', 1, null, { retain: true, x: { ext: true } }], 0x01));
    raw.sendValue([MessageKind.Ping, 3]);
    await raw.waitForKind(MessageKind.Pong);
    expect(raw.received.filter((message) => message.kind === MessageKind.Error)).toEqual([]);
    expect(broker.child.stderr).not.toMatch(/INTERNAL_ERROR|internal error|\n\s+at /);
    await pair.loseNothing();
  });

  it('refuses publish options of nesting deeper than msgpackr decodes with INVALID_MESSAGE, not an internal error', async () => {
    const broker = await startSharedBroker();
    const pair = await watchingPair(broker.socketPath);
    const raw = await RawConnection.open(broker.socketPath);
    raw.sendBytes(publishWithOptions([MessageKind.Publish, 'a.b', 1, null, 'NESTED'], 0));
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toEqual({ kind: MessageKind.Error, code: 'INVALID_MESSAGE', message: 'expected publish options (a map, or nil) at byte 8', about: { kind: MessageKind.Publish } });
    expect(broker.child.stderr).not.toMatch(/INTERNAL_ERROR|internal error|\n\s+at /);
    await pair.loseNothing();
  });
});

describe('a well-behaved client writing through a small buffer', () => {
  // Attack row: "a client that writes through an 8 KiB buffer": cut with TIMEOUT because the frame clock ran from the last empty buffer.
  it('is not cut by the frame timeout while every frame completes in time', async () => {
    const broker = await startSharedBroker(['--frame-timeout', '400']);
    const subscriber = await connectClient(broker.socketPath);
    const inbox = await collect(subscriber, 'bulk');
    const raw = await RawConnection.open(broker.socketPath);
    // 40 publishes of 20 KB, written 8 KiB at a time every 25 ms: about 2.5 s in all,
    // and the buffer is almost never empty, yet no frame takes more than 100 ms.
    const frames = Buffer.concat(Array.from({ length: 40 }, (_, index) => framed([MessageKind.Publish, 'bulk', 'x'.repeat(20_000) + index])));
    for (let offset = 0; offset < frames.length; offset += 8192) {
      raw.sendBytes(frames.subarray(offset, offset + 8192));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await waitForCount(inbox, 40);
    expect(raw.closed).toBe(false);
    expect(raw.received.filter((message) => message.kind === MessageKind.Error)).toEqual([]);
  });

  it('is not cut later for whole frames that waited for its next turn', async () => {
    const broker = await startSharedBroker(['--frame-timeout', '400']);
    const raw = await RawConnection.open(broker.socketPath);
    // A stats answer ends the connection's turn, so the ping behind it waits for the next one.
    raw.sendBytes(Buffer.concat([framed([MessageKind.StatsRequest, 1]), framed([MessageKind.Ping, 2])]));
    await raw.waitForKind(MessageKind.Pong);
    // Idle well past the frame timeout: nothing was ever half sent.
    const observer = await connectClient(broker.socketPath);
    await waitFor(async () => Number((await observer.brokerStats())['uptimeSeconds']) >= 2, 'two seconds of idling');
    expect(raw.closed).toBe(false);
    expect(raw.received.filter((message) => message.kind === MessageKind.Error)).toEqual([]);
  });

  it('is still cut when one frame stays incomplete past the timeout (slowloris)', async () => {
    const broker = await startSharedBroker(['--frame-timeout', '400']);
    const raw = await RawConnection.open(broker.socketPath);
    const frame = framed([MessageKind.Publish, 'bulk', 'x'.repeat(20_000)]);
    raw.sendBytes(Buffer.concat([framed([MessageKind.Ping, 1]), frame.subarray(0, 100)]));
    const error = await raw.waitForKind(MessageKind.Error);
    expect(error).toMatchObject({ code: 'TIMEOUT', message: 'a frame was still incomplete 400 ms after it started' });
    await raw.waitForClose();
  });
});

function framed(value: unknown[]): Buffer {
  return RawConnection.frame(value);
}

/** A publish frame whose options element is replaced: by one with an extension type, or by deep nesting. */
function publishWithOptions(message: unknown[], extType: number): Buffer {
  if (message[4] === 'NESTED') {
    // [3, "a.b", 1, nil, <100,000 nested one-element arrays around nil>]
    const depth = 100_000;
    const head = RawConnection.packValue(message.slice(0, 4)).subarray(1);
    const nested = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
    return withLength(Buffer.concat([Buffer.from([0x95]), head, nested]));
  }
  // {"retain": true, "x": <fixext1 of type extType>}
  const options = Buffer.concat([Buffer.from([0x82, 0xa6]), Buffer.from('retain'), Buffer.from([0xc3, 0xa1, 0x78, 0xd4, extType, 0x01])]);
  const head = RawConnection.packValue(message.slice(0, 4)).subarray(1);
  return withLength(Buffer.concat([Buffer.from([0x95]), head, options]));
}

function withLength(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}
