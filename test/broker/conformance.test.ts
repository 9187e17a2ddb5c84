import { describe, expect, it } from 'vitest';
import { decodeBrokerMessage, encodeFrame, MessageKind, type ErrorMessage } from '../../protocol/index.js';
import { startSharedBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { bytesOf, frameVectors, nameVectors, type ClientFrameVector } from '../helpers/vectors.js';

/** The ping each vector ends with: its pong marks the end of the broker's answers. */
const END_TOKEN = 0xc0ffee;
const END_PONG = encodeFrame(RawConnection.packValue([MessageKind.Pong, END_TOKEN])).subarray(4);

/** What the broker answered one vector: the frames before the closing pong, or the error it closed with. */
async function run(socketPath: string, vector: ClientFrameVector): Promise<unknown> {
  const raw = await RawConnection.open(socketPath, { hello: vector.hello });
  const before = raw.rawBodies.length;
  for (const frame of vector.frames) raw.sendBytes(Buffer.from(frame, 'hex'));
  if ('answers' in vector.expect) {
    raw.sendValue([MessageKind.Ping, END_TOKEN]);
    await raw.waitFor(() => raw.rawBodies.some((body) => body.equals(END_PONG)) || raw.closed, 'the closing pong');
    const end = raw.rawBodies.findIndex((body) => body.equals(END_PONG));
    const answers = raw.rawBodies.slice(before, end === -1 ? undefined : end).map((body) => encodeFrame(body).toString('hex'));
    raw.socket.destroy();
    return end === -1 ? { closed: answers } : { answers };
  }
  await raw.waitFor(() => raw.closed, 'the broker to close the connection', 3000).catch(() => undefined);
  if (!raw.closed) return { stillOpen: raw.rawBodies.slice(before).map((body) => encodeFrame(body).toString('hex')) };
  const frames = raw.rawBodies.slice(before).map((body) => decodeBrokerMessage(body) as ErrorMessage);
  if (frames.length !== 1 || frames[0]!.kind !== MessageKind.Error) return { frames };
  const { code, message, about } = frames[0]!;
  return { error: { code, message, about: about ?? null }, closes: true };
}

describe('the broker against the conformance vectors (protocol/vectors/frames.json)', () => {
  it('answers every client frame as the vectors say, and a healthy client beside them loses nothing', async () => {
    const { socketPath } = await startSharedBroker();
    const mismatches: unknown[] = [];
    for (const vector of frameVectors.client) {
      const got = await run(socketPath, vector);
      if (JSON.stringify(got) !== JSON.stringify(vector.expect)) mismatches.push({ name: vector.name, expected: vector.expect, got });
    }
    expect(mismatches).toEqual([]);
    const publisher = await connectClient(socketPath);
    const subscriber = await connectClient(socketPath);
    const inbox = await collect(subscriber, 'healthy.>');
    for (let index = 0; index < 100; index++) publisher.publish('healthy.n', index);
    await waitForCount(inbox, 100);
    expect(inbox.map((message) => message.data)).toEqual(Array.from({ length: 100 }, (_, index) => index));
  });
});

/** `[3, topic, 1]` or `[4, id, pattern]` with the name's exact bytes, valid UTF-8 or not. */
function frameWithName(prefix: number[], name: Buffer, suffix: number[]): Buffer {
  const header = name.length < 32 ? [0xa0 | name.length] : name.length < 256 ? [0xd9, name.length] : [0xda, name.length >> 8, name.length & 0xff];
  return encodeFrame(Buffer.from([...prefix, ...header, ...name, ...suffix]));
}

describe('the broker against the name vectors (protocol/vectors/topics.json)', () => {
  it.each([
    ['topics', nameVectors.topics, (name: Buffer) => frameWithName([0x93, MessageKind.Publish], name, [0x01]), 'INVALID_TOPIC'],
    ['patterns', nameVectors.patterns, (name: Buffer, index: number) => frameWithName([0x93, MessageKind.Subscribe, 0xcd, index >> 8, index & 0xff], name, []), 'INVALID_PATTERN'],
  ] as const)('%s: each refused exactly when the vectors say', async (_what, vectors, frameFor, code) => {
    const { socketPath } = await startSharedBroker();
    const raw = await RawConnection.open(socketPath);
    const verdicts: Array<string | true> = [];
    for (const [index, vector] of vectors.entries()) {
      const before = raw.rawBodies.length;
      raw.sendBytes(frameFor(bytesOf(vector), index));
      raw.sendValue([MessageKind.Ping, index]);
      await raw.waitFor(() => raw.received.some((message) => message.kind === MessageKind.Pong && message.token === index), `pong ${index}`);
      const error = raw.rawBodies.slice(before).map((body) => decodeBrokerMessage(body)).find((message) => message?.kind === MessageKind.Error);
      verdicts.push(error && 'code' in error ? error.code : true);
    }
    expect(verdicts).toEqual(vectors.map((vector) => (vector.valid ? true : code)));
  });
});
