import { describe, expect, it } from 'vitest';
import { ErrorCode, type Client, type Message } from '../../client/index.js';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';

/** A responder that answers every request on `pattern` with `answer(message)`. */
function answerWith(client: Client, pattern: string, answer: (message: Message) => unknown): Message[] {
  const seen: Message[] = [];
  client.subscribe(pattern, (message) => {
    seen.push(message);
    message.respond(answer(message));
  });
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected the request to fail, and it succeeded');
}

describe('request/reply', () => {
  it('resolves with the first of several replies; the broker counts and drops the later ones, nothing else happens', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responders = await Promise.all([1, 2, 3].map(() => connectClient(socketPath)));
    const seen = responders.map((responder, index) => answerWith(responder, 'svc.who', () => ({ responder: index })));
    await Promise.all(responders.map((responder) => responder.flush()));
    const errors: unknown[] = [];
    requester.on('error', (error) => errors.push(error));

    const reply = await requester.request<{ responder: number }>('svc.who', null);
    expect([0, 1, 2]).toContain(reply.data.responder);
    expect(seen.map((messages) => messages.length)).toEqual([1, 1, 1]);
    // One answer per request: the broker takes the first and discards the others.
    await waitFor(async () => (await requester.brokerStats())['repliesUndeliverable'] === 2, 'the two later replies to be dropped');
    expect(requester.counters.lateReplies).toBe(0);
    expect(errors).toEqual([]);
    // The requester is still perfectly usable.
    expect((await requester.request('svc.who', null)).data).toHaveProperty('responder');
  });

  it('carries data and headers both ways', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responder = await connectClient(socketPath);
    responder.subscribe('math.double', (message) => {
      message.respond({ result: (message.data as { n: number }).n * 2 }, { headers: { served: message.headers!['trace']! } });
    });
    await responder.flush();
    const reply = await requester.request('math.double', { n: 21 }, { headers: { trace: 't-1' } });
    expect(reply).toEqual({ data: { result: 42 }, headers: { served: 't-1' } });
  });

  it('fails at once with NO_RESPONDERS when nothing subscribes, long before the timeout', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const failure = await rejection(requester.request('svc.none', 1, { timeout: 600_000 }));
    expect(failure).toEqual({ code: ErrorCode.NoResponders, message: 'no responders: nothing subscribes to svc.none' });
    const stats = await requester.brokerStats();
    expect(stats).toMatchObject({ requests: 1, noResponders: 1 });
  });

  it('fails with REQUEST_TIMEOUT when a responder never answers', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const silent = await connectClient(socketPath);
    const heard = await collect(silent, 'svc.slow');
    const failure = await rejection(requester.request('svc.slow', 1, { timeout: 300 }));
    expect(failure).toEqual({ code: ErrorCode.RequestTimeout, message: 'no reply to the request on svc.slow within 300 ms' });
    expect(heard).toHaveLength(1);
    // An answer after the timeout is dropped and counted, not mistaken for anything.
    heard[0]!.respond('too late');
    await waitFor(() => requester.counters.lateReplies === 1, 'the late reply to be counted');
  });

  it('rejects with the responder\'s error and code', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responder = await connectClient(socketPath);
    responder.subscribe('disk.write', (message) => message.respondError('disk full', { code: 'ENOSPC' }));
    responder.subscribe('disk.read', (message) => message.respondError('unreadable sector'));
    await responder.flush();
    expect(await rejection(requester.request('disk.write', 'x'))).toEqual({ code: 'ENOSPC', message: 'disk full' });
    expect(await rejection(requester.request('disk.read', 'x'))).toEqual({ code: ErrorCode.RequestFailed, message: 'unreadable sector' });
  });

  it('serves 10,000 concurrent requests from one client without a subscription per request', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responder = await connectClient(socketPath);
    const held: Message[] = [];
    responder.subscribe('svc.square', (message) => held.push(message));
    await responder.flush();
    const count = 10_000;
    const replies = Array.from({ length: count }, (_, n) => requester.request<number>('svc.square', n, { timeout: 60_000 }));
    await waitForCount(held, count, 'requests at the responder', 60_000);
    // Every request is in flight at once, and the broker holds just the responder's one subscription.
    expect(await requester.brokerStats()).toMatchObject({ subscriptions: 1, requests: count });
    for (const message of held) message.respond((message.data as number) ** 2);
    const squares = (await Promise.all(replies)).map((reply) => reply.data);
    expect(squares).toEqual(Array.from({ length: count }, (_, n) => n * n));
  });

  it('keeps replies private: a client listening to everything sees the request, never the reply', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responder = await connectClient(socketPath);
    const snooper = await connectClient(socketPath);
    answerWith(responder, 'secret.ask', () => 'the answer');
    const overheard = await collect(snooper, '>');
    await responder.flush();
    expect((await requester.request('secret.ask', 'q')).data).toBe('the answer');
    requester.publish('after', 1);
    await waitFor(() => overheard.some((message) => message.topic === 'after'), 'a later publish to reach the snooper');
    expect(overheard.map((message) => [message.topic, message.data, message.isRequest])).toEqual([
      ['secret.ask', 'q', true],
      ['after', 1, false],
    ]);
  });

  it('refuses respond() on a message that is not a request', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    const inbox = await collect(client, 'plain');
    client.publish('plain', 1);
    await waitForCount(inbox, 1);
    expect(() => inbox[0]!.respond('x')).toThrow(
      expect.objectContaining({ code: ErrorCode.NotARequest, message: 'the message on plain is not a request: nobody awaits an answer' }),
    );
  });

  it('counts a reply whose requester is gone, and refuses a reply address the broker never gave out', async () => {
    const { socketPath } = await startBroker();
    const requester = await connectClient(socketPath);
    const responder = await connectClient(socketPath);
    const held = await collect(responder, 'svc.later');
    void requester.request('svc.later', 1).catch(() => undefined);
    await waitForCount(held, 1);
    await requester.close();
    held[0]!.respond('nobody is listening');
    await responder.flush();
    expect(await responder.brokerStats()).toMatchObject({ replies: 0, repliesUndeliverable: 1 });

    const raw = await RawConnection.open(socketPath);
    raw.sendValue([MessageKind.Respond, 'made-up', 1]);
    expect(await raw.waitForKind(MessageKind.Error)).toEqual({
      kind: MessageKind.Error,
      code: ErrorCode.InvalidReplyAddress,
      message: 'respond: "made-up" is not a reply address this broker gives out (16 base64url characters)',
      about: { kind: MessageKind.Respond, reply: 'made-up' },
    });
    raw.sendValue([MessageKind.Ping, 5]);
    expect(await raw.waitForKind(MessageKind.Pong)).toEqual({ kind: MessageKind.Pong, token: 5 });
  });
});
