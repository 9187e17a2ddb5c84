import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';
import { ALICE, readableCopyOfProject, spawnAs } from '../helpers/users.js';

/** Root may do anything; alice may use alice.> only, so she never receives a request on svc.>. */
async function brokerWithPolicy() {
  const directory = makeTempDir(0o755);
  const aclPath = join(directory, 'acl.json');
  writeFileSync(aclPath, JSON.stringify({ users: { [ALICE]: { publish: ['alice.>'], subscribe: ['alice.>'] } }, uids: { 0: { publish: ['>'], subscribe: ['>'] } } }));
  return startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--acl', aclPath] });
}

/** Runs the forger as alice against the given addresses; resolves with the errors the broker answered her. */
async function forgeAnswers(socketPath: string, addresses: string[]): Promise<string[]> {
  const forger = spawnAs(ALICE, readableCopyOfProject(), 'fixtures/answer-request.mjs', [socketPath, JSON.stringify(addresses)]);
  await forger.waitForExit();
  expect(forger.stderr).toBe('');
  return forger.stdout.split('\n').filter(Boolean);
}

describe('replies only from those asked', () => {
  // Attack row: "answer another user's pending requests": forged replies won 54 of 60 requests, forged errors 55 of 60.
  it('refuses an answer from a connection the request never reached, even with the right address', async () => {
    const broker = await brokerWithPolicy();
    const responder = await RawConnection.open(broker.socketPath);
    responder.sendValue([MessageKind.Subscribe, 1, 'svc.time']);
    responder.sendValue([MessageKind.Ping, 1]);
    await responder.waitForKind(MessageKind.Pong);
    const requester = await connectClient(broker.socketPath);
    const answers = Array.from({ length: 20 }, (_, index) => requester.request('svc.time', index, { timeout: 20_000 }));
    const held = () => responder.received.filter((message) => message.kind === MessageKind.Message) as Array<{ data: number; info: { reply: string } }>;
    await waitForCount({ get length() { return held().length; } } as unknown[], 20);
    // The addresses leak to alice (the worst case), and she also floods guesses in the address shape of old.
    const leaked = held().map((message) => message.info.reply);
    const guesses = Array.from({ length: 200 }, (_, index) => `000000000000.${1 + (index % 10)}.${index}`);
    const refusals = await forgeAnswers(broker.socketPath, [...leaked, ...guesses]);
    // The leaked addresses are refused without a word (a forger learns nothing); the guesses are not addresses at all.
    expect(refusals).toHaveLength(2 * guesses.length);
    expect(refusals[0]).toBe(JSON.stringify(['INVALID_REPLY_ADDRESS', `respond: "${guesses[0]}" is not a reply address this broker gives out (16 base64url characters)`]));
    for (const message of held()) responder.sendValue([MessageKind.Respond, message.info.reply, `genuine ${message.data}`]);
    const replies = await Promise.all(answers);
    expect(replies.map((reply) => reply.data)).toEqual(held().map((message) => `genuine ${message.data}`));
    expect(await requester.brokerStats()).toMatchObject({ replies: 20, repliesRefused: 40 });
  });

  it('takes one answer per request: a second answer, even from a responder that was asked, goes nowhere', async () => {
    const broker = await brokerWithPolicy();
    const responder = await connectClient(broker.socketPath);
    const held = await collect(responder, 'svc.once');
    const requester = await connectClient(broker.socketPath);
    const answer = requester.request('svc.once', 1);
    await waitForCount(held, 1);
    held[0]!.respond('first');
    held[0]!.respond('second');
    expect((await answer).data).toBe('first');
    await responder.flush();
    expect(await requester.brokerStats()).toMatchObject({ replies: 1, repliesUndeliverable: 1, pendingRequests: 0 });
  });

  it('builds every reply itself, with the responder\'s sender and none of its extra elements', async () => {
    const broker = await brokerWithPolicy();
    const raw = await RawConnection.open(broker.socketPath);
    const responder = await RawConnection.open(broker.socketPath);
    responder.sendValue([MessageKind.Subscribe, 1, 'svc.raw']);
    responder.sendValue([MessageKind.Ping, 1]);
    await responder.waitForKind(MessageKind.Pong);
    raw.sendValue([MessageKind.Publish, 'svc.raw', 'q', null, { request: 9 }]);
    const request = await responder.waitForKind(MessageKind.Message);
    const address = (request as { info: { reply: string } }).info.reply;
    responder.sendValue([MessageKind.Respond, address, 'a', { h: 'v' }, { code: 'NOPE', message: 'no', sender: [0, 1] }, [0, 1], 'more']);
    await raw.waitForKind(MessageKind.Reply);
    expect(unpack(raw.rawBodies.find((body) => body[1] === MessageKind.Reply)!)).toEqual([
      MessageKind.Reply, 9, 'a', { h: 'v' }, { code: 'NOPE', message: 'no' }, [process.getuid!(), process.pid],
    ]);
  });

  it('bounds what one requester makes the broker remember: a request past --max-requests fails at once, and requests expire', async () => {
    const directory = makeTempDir(0o755);
    const broker = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--max-requests', '2', '--request-lifetime', '500'] });
    const responder = await connectClient(broker.socketPath);
    const held = await collect(responder, 'svc.slow');
    const requester = await connectClient(broker.socketPath);
    const first = requester.request('svc.slow', 1, { timeout: 20_000 });
    void requester.request('svc.slow', 2, { timeout: 20_000 }).catch(() => undefined);
    await expect(requester.request('svc.slow', 3)).rejects.toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      message: 'this connection already has 2 requests awaiting an answer, the most the broker allows (--max-requests)',
    });
    await waitForCount(held, 2);
    await waitFor(async () => (await requester.brokerStats())['pendingRequests'] === 0, 'the requests to expire');
    held[0]!.respond('too late');
    await responder.flush();
    expect(await requester.brokerStats()).toMatchObject({ replies: 0, repliesUndeliverable: 1 });
    void first.catch(() => undefined);
  });
});
