import { pack, Packr, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeBrokerMessage, decodeClientMessage, encodeBody, encodeFrame, encodeMessage, encodePublishBody, encodeRespondBody, ErrorCode, MessageKind, type BrokerMessage, type ClientMessage, type PublishFrame, type RespondFrame } from '../../protocol/index.js';
import { keptValueOf, PublishedMessage, BrokerEventMessage, SenderStamp, replyParts, retainedParts, type BodyParts } from '../../broker/delivery.js';

const bodyOf = (frame: Buffer) => frame.subarray(4);
const frameOf = (parts: BodyParts) => encodeFrame(Buffer.concat(parts));
const decodePublish = (body: Uint8Array) => decodeClientMessage(Buffer.from(body)) as PublishFrame;

describe('client messages round trip', () => {
  const messages: ClientMessage[] = [
    { kind: MessageKind.Hello, version: 2, name: 'editor', noEcho: true },
    { kind: MessageKind.Subscribe, subscriptionId: 7, pattern: 'app.*.saved' },
    { kind: MessageKind.Subscribe, subscriptionId: 8, pattern: 'jobs.>', queue: 'workers' },
    { kind: MessageKind.GoingAway, reason: 'the client was closed' },
    { kind: MessageKind.Unsubscribe, subscriptionId: 7 },
    { kind: MessageKind.Ping, token: 1 },
    { kind: MessageKind.Pong, token: 2 },
    { kind: MessageKind.StatsRequest, token: 3 },
  ];
  it.each(messages)('kind $kind', (message) => {
    expect(decodeClientMessage(bodyOf(encodeMessage(message as Exclude<ClientMessage, PublishFrame>)))).toEqual(message);
  });

  it('a hello without optional fields', () => {
    expect(decodeClientMessage(Buffer.from(pack([1, { version: 2 }])))).toEqual({ kind: 1, version: 2 });
  });

  it('encodes binary data itself, byte for byte as msgpackr would, for every bin size class and for views', () => {
    // Configured as the protocol's own packer: maps with the smallest header.
    const compactPacker = new Packr({ useRecords: false, variableMapSize: true });
    const backing = Buffer.alloc(70_000, 9);
    for (const length of [0, 1, 255, 256, 65_535, 65_536]) {
      for (const data of [Buffer.alloc(length, 3), new Uint8Array(backing.buffer, 7, length)]) {
        const ours = Buffer.from(encodePublishBody('t', data, { h: 'v' }, { retain: true }));
        expect(ours.equals(Buffer.from(compactPacker.pack([3, 't', data, { h: 'v' }, { retain: true }])))).toBe(true);
        const publish = decodeClientMessage(ours) as PublishFrame;
        expect(publish.body.subarray(publish.dataOffset, publish.dataEnd).equals(Buffer.from(pack(data)))).toBe(true);
      }
    }
  });

  it('publish keeps the frame and finds the topic', () => {
    const body = Buffer.from(encodePublishBody('a.b', { x: [1, 2] }, { trace: 'abc' }));
    const publish = decodeClientMessage(body) as PublishFrame;
    expect(publish).toMatchObject({ kind: MessageKind.Publish, topic: 'a.b', hasHeaders: true });
  });
});

describe('broker messages round trip', () => {
  const messages: BrokerMessage[] = [
    {
      kind: MessageKind.Welcome, version: 2, connectionId: 9, server: 'sockbusd 0.2.0', senders: true, maxFrameBytes: 1024, maxBrokerFrameBytes: 2048,
      maxTopicBytes: 256, maxPatternTokens: 16, maxPatternWildcards: 3, maxHeaderEntries: 64, maxHeaderBytes: 16384, maxSubscriptions: 10, maxRequests: 10,
      maxPendingBytes: 4096, keepaliveMs: 30000,
    },
    { kind: MessageKind.Subscribed, subscriptionId: 7 },
    { kind: MessageKind.Message, topic: 'a.b', data: { nested: [1, 'two', null, true, 1.5] } },
    { kind: MessageKind.Message, topic: 'a.b', data: 'text', headers: { key: 'value' } },
    { kind: MessageKind.Ping, token: 4 },
    { kind: MessageKind.Pong, token: 4 },
    { kind: MessageKind.Error, code: 'INVALID_PATTERN', message: 'bad', about: { kind: 4, sub: 3 } },
    { kind: MessageKind.Error, code: 'RESERVED_TOPIC', message: 'no', about: { kind: 3, topic: '$SYS.x' } },
    { kind: MessageKind.Error, code: 'FRAME_TOO_LARGE', message: 'too big' },
    { kind: MessageKind.GoingAway, reason: 'restart' },
    { kind: MessageKind.Dropped, count: 12 },
    { kind: MessageKind.Message, topic: 'a.b', data: 1, headers: { k: 'v' }, info: { reply: 'abc.1.2', sub: 4 } },
    { kind: MessageKind.Message, topic: 'a.b', data: 1, headers: undefined, sender: { uid: 1000, pid: null } },
    { kind: MessageKind.Reply, requestId: 3, data: { ok: true }, headers: undefined, error: undefined },
    { kind: MessageKind.Reply, requestId: 4, data: null, headers: { k: 'v' }, error: { code: 'NO_RESPONDERS', message: 'nobody' } },
    { kind: MessageKind.Stats, token: 5, stats: { connections: 2 } },
  ];
  it.each(messages)('kind $kind', (message) => {
    expect(decodeBrokerMessage(bodyOf(encodeMessage(message)))).toEqual(message);
  });
});

describe('delivery frames', () => {
  const payloads: unknown[] = [null, 0, -1, 2 ** 40, 1.25, 'x'.repeat(70000), Buffer.alloc(300, 1), [1, [2, [3]]], { a: { b: new Date(0) } }];
  it.each(payloads.map((data) => [data]))('forwarding a publish equals encoding the message (%#)', (data) => {
    for (const headers of [undefined, { h: 'v' }]) {
      const publish = decodeClientMessage(Buffer.from(encodePublishBody('t.x', data, headers))) as PublishFrame;
      const expected = encodeMessage({ kind: MessageKind.Message, topic: 't.x', data, headers });
      expect(frameOf(new PublishedMessage(publish, null).plainParts())).toEqual(expected);
      const request = decodePublish(encodePublishBody('t.x', data, headers, { request: 9 }));
      expect(frameOf(new PublishedMessage(request, null, 'r.1.9').partsFor(2))).toEqual(
        encodeMessage({ kind: MessageKind.Message, topic: 't.x', data, headers, info: { reply: 'r.1.9', sub: 2 } }),
      );
    }
  });

  it('drops a nil headers element and ignores option keys and elements a later version may add', () => {
    const publish = decodePublish(pack([3, 'a', 1, null, { future: true }, 'more']));
    expect(publish).toMatchObject({ retain: false, requestId: undefined });
    const delivered = decodeBrokerMessage(bodyOf(frameOf(new PublishedMessage(publish, null).plainParts())));
    expect(delivered).toEqual({ kind: MessageKind.Message, topic: 'a', data: 1, headers: undefined });
  });

  it('marks a queue member\'s copy with its subscription id, and a request\'s with the reply address too', () => {
    const publish = decodePublish(encodePublishBody('jobs.x', 'work'));
    expect(decodeBrokerMessage(bodyOf(frameOf(new PublishedMessage(publish, null).partsFor(12))))).toEqual({
      kind: MessageKind.Message, topic: 'jobs.x', data: 'work', headers: undefined, info: { sub: 12 },
    });
    const request = decodePublish(encodePublishBody('jobs.x', 'work', { h: '1' }, { request: 5 }));
    expect(decodeBrokerMessage(bodyOf(frameOf(new PublishedMessage(request, null, 'r.2.5').partsFor(12))))).toEqual({
      kind: MessageKind.Message, topic: 'jobs.x', data: 'work', headers: { h: '1' }, info: { reply: 'r.2.5', sub: 12 },
    });
  });

  it('stamps the sender the broker knows on every kind of delivery', () => {
    const stamp = new SenderStamp({ uid: 1001, pid: 4242 });
    const publish = decodePublish(encodePublishBody('t', 'x', { h: '1' }));
    const request = decodePublish(encodePublishBody('t', 'x', undefined, { request: 3 }));
    const decoded = (parts: BodyParts) => decodeBrokerMessage(bodyOf(frameOf(parts)));
    const sender = { uid: 1001, pid: 4242 };
    expect(decoded(new PublishedMessage(publish, stamp).plainParts())).toEqual({ kind: MessageKind.Message, topic: 't', data: 'x', headers: { h: '1' }, sender });
    expect(decoded(new PublishedMessage(publish, stamp).partsFor(2))).toMatchObject({ info: { sub: 2 }, sender });
    const bare = decodePublish(encodePublishBody('t', [1, 2]));
    expect(decoded(new PublishedMessage(bare, stamp).plainParts())).toEqual({ kind: MessageKind.Message, topic: 't', data: [1, 2], headers: undefined, sender });
    expect(decoded(new PublishedMessage(request, stamp, 'r.1.3').partsFor(1))).toMatchObject({ info: { reply: 'r.1.3', sub: 1 }, sender });
    expect(decoded(retainedParts(keptValueOf(publish, sender), 5))).toMatchObject({ info: { retained: true, sub: 5 }, sender });
    expect(decoded(new BrokerEventMessage('$SYS.x', { a: 1 }, sender).partsFor(4))).toEqual({ kind: MessageKind.Message, topic: '$SYS.x', data: { a: 1 }, headers: undefined, info: { sub: 4 }, sender });
    expect(decoded(new BrokerEventMessage('$SYS.x', 1, undefined).plainParts())).toEqual({ kind: MessageKind.Message, topic: '$SYS.x', data: 1, headers: undefined });
  });

  it('replays a kept value byte for byte, marked retained, from a copy that outlives the frame', () => {
    const body = Buffer.from(encodePublishBody('theme', { name: 'dark', size: 1.5 }, { origin: 'settings' }, { retain: true }));
    const publish = decodePublish(body);
    expect(publish).toMatchObject({ retain: true, requestId: undefined });
    const kept = keptValueOf(publish);
    body.fill(0);
    expect(decodeBrokerMessage(bodyOf(frameOf(retainedParts(kept, 3))))).toEqual({
      kind: MessageKind.Message, topic: 'theme', data: { name: 'dark', size: 1.5 }, headers: { origin: 'settings' }, info: { retained: true, sub: 3 },
    });
  });

  it('builds the reply in one fixed shape: the answer untouched, the responder\'s sender, and nothing else it sent', () => {
    const responder = new SenderStamp({ uid: 1001, pid: 4242 });
    for (const [headers, error] of [[undefined, undefined], [{ k: 'v' }, { code: 'BAD', message: 'no' }]] as const) {
      const respond = decodeClientMessage(Buffer.from(encodeRespondBody('r.1.77', [1, 2], headers, error))) as RespondFrame;
      expect(respond.replyTo).toBe('r.1.77');
      expect(unpack(bodyOf(frameOf(replyParts(respond, 77, responder))))).toEqual([
        MessageKind.Reply, 77, [1, 2], headers ?? null, error ?? null, [1001, 4242],
      ]);
      expect(decodeBrokerMessage(bodyOf(frameOf(replyParts(respond, 77, null))))).toMatchObject({ kind: MessageKind.Reply, requestId: 77, data: [1, 2], headers, error });
    }
    // Extra elements and extra keys in the error are the responder's, and go no further.
    const padded = decodeClientMessage(Buffer.from(pack([MessageKind.Respond, 'r.1.7', 'ok', null, { code: 'X', message: 'y', forged: 1 }, [0, 1], 'extra']))) as RespondFrame;
    expect(unpack(bodyOf(frameOf(replyParts(padded, 7, responder))))).toEqual([MessageKind.Reply, 7, 'ok', null, { code: 'X', message: 'y' }, [1001, 4242]]);
  });
});

describe('invalid input', () => {
  // Each frame a client may get wrong, and the broker's exact answer, is a conformance vector (protocol/vectors/frames.json, test/broker/conformance.test.ts).
  it('survives hostile nesting without exhausting the stack', () => {
    const deep = Buffer.concat([Buffer.from([0x93, 0x03, 0xa1, 0x61]), Buffer.alloc(500_000, 0x91), Buffer.from([0xc0])]);
    expect((decodeClientMessage(deep) as PublishFrame).topic).toBe('a');
    // An element after the known ones is skipped the same way, however deep.
    const deepPing = Buffer.concat([Buffer.from([0x93, 0x07, 0x01]), Buffer.alloc(500_000, 0x91), Buffer.from([0xc0])]);
    expect(decodeClientMessage(deepPing)).toEqual({ kind: MessageKind.Ping, token: 1 });
  });

  it('skips every msgpack type in a payload', () => {
    const values = [null, true, false, 0, 127, 128, 255, 65535, 2 ** 32, -1, -33, -129, -32769, -(2 ** 31) - 1, 0.5, 1e300, '', 'a'.repeat(31), 'a'.repeat(300), 'a'.repeat(70000), Buffer.alloc(10), Buffer.alloc(300), Buffer.alloc(70000), new Array(20).fill(1), new Array(70000).fill(0), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])), new Date(1), new Date(2 ** 40)];
    for (const data of values) {
      const publish = decodeClientMessage(Buffer.from(encodePublishBody('t', data))) as PublishFrame;
      expect(publish.forwardEnd).toBe(publish.body.length);
    }
  });

  it('frames and bodies agree', () => {
    const message = { kind: MessageKind.Ping, token: 3 } as const;
    expect(encodeMessage(message)).toEqual(encodeFrame(encodeBody(message)));
  });
});
