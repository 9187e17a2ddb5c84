import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restartBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';
import { BOB, readableCopyOfProject } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { brokerAsBob, fakeBrokerAs, sharedDirectory, who } from '../security/impostors.js';
import { FakeBroker } from '../helpers/fake-broker.js';
import { pythonCli, pythonScript } from '../python/python.js';

describe('the Python client, written from PROTOCOL.md, against the TypeScript one', () => {
  it('Python publishes and TypeScript receives every msgpack type, with headers', async () => {
    const { socketPath } = await startBroker();
    const inbox = await collect(await connectClient(socketPath), 'py.>');
    const publisher = pythonScript(
      `bus = sockbus.connect(sys.argv[1], "python publisher")
bus.publish("py.values", {"text": "héllo", "int": -7, "big": 2**40, "float": 1.5, "bytes": b"\\x00\\x01", "list": [None, True, False]}, headers={"trace": "abc"})
bus.publish("py.plain", "no headers")
bus.flush()
bus.close()`,
      [socketPath],
    );
    await publisher.waitForExit();
    expect([publisher.exitCode, publisher.stderr]).toEqual([0, '']);
    await waitForCount(inbox, 2);
    expect(inbox[0]).toEqual({
      topic: 'py.values',
      data: { text: 'héllo', int: -7, big: 2 ** 40, float: 1.5, bytes: Buffer.from([0, 1]), list: [null, true, false] },
      headers: { trace: 'abc' },
    });
    expect(inbox[1]).toEqual({ topic: 'py.plain', data: 'no headers' });
    expect(inbox[0]!.sender).toEqual({ uid: process.getuid!(), pid: publisher.pid });
  });

  it('TypeScript publishes and Python receives by wildcard, retained values marked', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    publisher.publish('ts.state.theme', 'dark', { retain: true });
    await publisher.flush();
    const subscriber = pythonCli(['--socket', socketPath, 'sub', 'ts.*.>', '--count', '3']);
    await waitFor(() => subscriber.stderr.includes('subscribed'), 'the Python subscriber');
    publisher.publish('ts.a.b', { n: [1, 2] }, { headers: { k: 'v' } });
    publisher.publish('ts.skipped', 'not matched by ts.*.>');
    publisher.publish('ts.a.b.c', Buffer.from('bin'));
    await subscriber.waitForExit();
    expect(subscriber.exitCode).toBe(0);
    expect(subscriber.stdout.trim().split('\n')).toEqual([
      '{"topic":"ts.state.theme","data":"dark","headers":{},"retained":true}',
      '{"topic":"ts.a.b","data":{"n":[1,2]},"headers":{"k":"v"}}',
      '{"topic":"ts.a.b.c","data":{"$base64":"Ymlu"},"headers":{}}',
    ]);
  });

  it('requests cross both ways, and a request nobody answers fails at once with NO_RESPONDERS', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    ts.subscribe('ts.double', (message) => message.respond((message.data as number) * 2));
    await ts.flush();
    const asker = pythonScript(
      `bus = sockbus.connect(sys.argv[1])
print(bus.request("ts.double", 21, timeout=5)[0])
try:
    bus.request("nobody.home", 1, timeout=30)
except sockbus.SockbusError as error:
    print(error.code, error.message)
bus.close()`,
      [socketPath],
    );
    await asker.waitForExit();
    expect(asker.stdout).toBe('42\nNO_RESPONDERS no responders: nothing subscribes to nobody.home\n');

    const responder = pythonCli(['--socket', socketPath, 'reply', 'py.upper', '"ANSWER"', '--count', '1']);
    await waitFor(() => responder.stderr.includes('subscribed'), 'the Python responder');
    expect(await ts.request('py.upper', 'answer')).toEqual({ data: 'ANSWER' });
    await responder.waitForExit();
    expect(responder.stdout).toBe('{"topic":"py.upper","data":"answer","headers":{}}\n');
  });

  it('Python refuses a broker run by another user before sending anything, and trusts the one broker_uid or $SOCKBUS_BROKER_UID names (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const socketPath = join(sharedDirectory(), 'bus.sock');
    const fake = await fakeBrokerAs(BOB, copy, socketPath);
    const refused = pythonScript(
      `try:
    sockbus.connect(sys.argv[1], "secret name")
except sockbus.SockbusError as error:
    print(error.code, error.message)`,
      [socketPath],
    );
    await refused.waitForExit();
    expect([refused.stdout, refused.stderr]).toEqual([`UNTRUSTED_BROKER the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass broker_uid to trust it\n`, '']);
    const cli = pythonCli(['--socket', socketPath, 'pub', 'x', '1']);
    await cli.waitForExit();
    expect([cli.exitCode, cli.stderr]).toEqual([1, `sockbus (python): the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass --broker-uid to trust it\n`]);
    expect(await fake.seen(2)).toEqual({ connections: 2, closed: 2, bytes: 0 });

    const bobs = await brokerAsBob(copy);
    const inbox = await collect(await connectClient(bobs.socketPath, { brokerUid: BOB }), 'py.>');
    const trusting = pythonScript(
      `bus = sockbus.connect(sys.argv[1], broker_uid=sys.argv[2])
bus.publish("py.trusted", "by broker_uid")
bus.flush()
bus.close()
bus = sockbus.connect(sys.argv[1])
bus.publish("py.trusted", "by the environment")
bus.flush()
bus.close()`,
      [bobs.socketPath, BOB],
      { SOCKBUS_BROKER_UID: BOB },
    );
    await trusting.waitForExit();
    expect([trusting.exitCode, trusting.stderr]).toEqual([0, '']);
    await waitForCount(inbox, 2);
    expect(inbox.map((message) => message.data)).toEqual(['by broker_uid', 'by the environment']);
  });

  it('Python gives a reply\'s sender as reply.sender, and a reply still unpacks as (data, headers) (row: reply sender)', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        const options = frame[4] as { request?: number } | undefined;
        if (frame[0] === 3 && options?.request !== undefined) connection.send([15, options.request, 'pong', { via: 'fake' }, null, [1234, 5678]]);
      },
    });
    const asker = pythonScript(
      `bus = sockbus.connect(sys.argv[1])
reply = bus.request("ping", None)
data, headers = reply
print(data, headers, reply.data, reply.sender)
bus.close()`,
      [broker.path],
    );
    await asker.waitForExit();
    expect([asker.stdout, asker.stderr]).toEqual(["pong {'via': 'fake'} pong {'uid': 1234, 'pid': 5678}\n", '']);
  });

  it('Python prints a responder\'s error message with its control characters escaped, and JSON with none raw (row: terminal escapes)', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    ts.subscribe('ask.fail', (message) => message.respondError('refused\x1b[2K\r\nsockbus (python): all good'));
    ts.subscribe('ask.data', (message) => message.respond('answer\u2028\x85\x1b[2K'));
    await ts.flush();
    const refused = pythonCli(['--socket', socketPath, 'req', 'ask.fail']);
    const answered = pythonCli(['--socket', socketPath, 'req', 'ask.data']);
    await Promise.all([refused.waitForExit(), answered.waitForExit()]);
    expect([refused.exitCode, refused.stderr]).toEqual([1, 'sockbus (python): refused\\x1b[2K\\r\\nsockbus (python): all good\n']);
    expect(answered.stdout).toBe('{"data":"answer\\u2028\\u0085\\u001b[2K","headers":{}}\n'); // json.dumps escapes all but ASCII
  });

  it('Python reconnects and resubscribes by itself after the broker is killed and restarted', async () => {
    const broker = await startBroker();
    const subscriber = pythonCli(['--socket', broker.socketPath, 'sub', 'restart.>', '--count', '2']);
    await waitForSubscriptions(broker.socketPath, 1);
    (await connectClient(broker.socketPath)).publish('restart.before', 1);
    await waitFor(() => subscriber.stdout.includes('restart.before'), 'the first message');
    await broker.child.kill('SIGKILL');
    await restartBroker(broker);
    await waitFor(() => subscriber.stderr.includes('reconnected'), 'the Python client to reconnect');
    await waitForSubscriptions(broker.socketPath, 1);
    (await connectClient(broker.socketPath)).publish('restart.after', 2);
    await subscriber.waitForExit();
    expect(subscriber.stdout).toBe('{"topic":"restart.before","data":1,"headers":{}}\n{"topic":"restart.after","data":2,"headers":{}}\n');
  });
});
