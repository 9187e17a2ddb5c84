import { describe, expect, it } from 'vitest';
import { ErrorCode, MsgpackExtension, type Message } from '../../client/index.js';
import { MessageKind } from '../../protocol/index.js';
import { startBroker, startCli } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';

describe('protocol 2 behaviour a client can rely on', () => {
  it('a new subscription gets its replay before any live message, even while another subscription of the connection receives a flood on the topic', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    publisher.publish('flood.x', 'kept', { retain: true });
    await publisher.flush();
    const subscriber = await connectClient(socketPath);
    const first = await collect(subscriber, 'flood.>');
    let flooding = true;
    const flood = (async () => {
      for (let index = 0; flooding; index++) {
        publisher.publish('flood.x', index);
        if (index % 50 === 0) await publisher.flush();
      }
    })();
    await waitForCount(first, 200);
    const late: Message[] = [];
    subscriber.subscribe('flood.x', (message) => late.push(message));
    await waitForCount(late, 20);
    flooding = false;
    await flood;
    // The live messages routed before the broker took the subscription were the first one's, not the new one's.
    expect([late[0]!.data, late[0]!.retained]).toEqual(['kept', true]);
    expect(late.slice(1).every((message) => message.retained === undefined)).toBe(true);
  });

  it('a request matching two subscriptions of one connection reaches one of them, and is answered once', async () => {
    const { socketPath } = await startBroker();
    const responder = await connectClient(socketPath);
    const calls: string[] = [];
    responder.subscribe('svc.>', (message) => {
      calls.push('wide');
      message.respond('from the wide one');
    });
    responder.subscribe('svc.time', (message) => {
      calls.push('exact');
      message.respond('from the exact one');
    });
    await responder.flush();
    const requester = await connectClient(socketPath);
    const reply = await requester.request('svc.time', null);
    await requester.flush();
    expect(reply.data).toBe('from the wide one');
    expect(calls).toEqual(['wide']);
  });

  it('noEcho: a retained value the connection set is still replayed to it, and a request only it could answer gets NO_RESPONDERS', async () => {
    const { socketPath } = await startBroker();
    const quiet = await connectClient(socketPath, { noEcho: true });
    quiet.publish('mine.state', 'on', { retain: true });
    const replay = await collect(quiet, 'mine.state');
    await waitForCount(replay, 1);
    expect([replay[0]!.data, replay[0]!.retained]).toEqual(['on', true]);
    quiet.subscribe('mine.ask', (message) => message.respond('never'));
    await expect(quiet.request('mine.ask', 1)).rejects.toMatchObject({ code: ErrorCode.NoResponders, message: 'no responders: nothing subscribes to mine.ask' });
  });

  it('an extension type no client knows passes through the TypeScript client and the CLI unchanged', async () => {
    const { socketPath } = await startBroker();
    const piped = startCli(['sub', 'ext.>', '--count', '1', '--socket', socketPath]);
    const subscriber = await connectClient(socketPath);
    const inbox = await collect(subscriber, 'ext.>');
    await waitForSubscriptions(socketPath, 2);
    const publisher = await connectClient(socketPath);
    publisher.publish('ext.point', { at: new MsgpackExtension(42, Uint8Array.from([1, 2, 3])) });
    await waitForCount(inbox, 1);
    const { at } = inbox[0]!.data as { at: MsgpackExtension };
    expect([at.type, [...at.data]]).toEqual([42, [1, 2, 3]]);
    await piped.waitForExit();
    expect(JSON.parse(piped.stdout)).toEqual({ topic: 'ext.point', data: { at: { $ext: 42, $base64: 'AQID' } }, headers: {} });
  });

  it('a responder\'s error answer without a code reaches the requester as REQUEST_FAILED', async () => {
    const { socketPath } = await startBroker();
    const responder = await RawConnection.open(socketPath);
    responder.sendValue([MessageKind.Subscribe, 1, 'svc.fail']);
    await responder.waitForKind(MessageKind.Subscribed);
    const requester = await connectClient(socketPath);
    const pending = requester.request('svc.fail', null);
    await waitFor(() => responder.received.some((message) => message.kind === MessageKind.Message), 'the request to reach the responder');
    const request = responder.received.find((message) => message.kind === MessageKind.Message) as { info: { reply: string } };
    responder.sendValue([MessageKind.Respond, request.info.reply, null, null, { message: 'disk full' }]);
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.RequestFailed, message: 'disk full' });
  });
});
