import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type SockbusError } from '../../client/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { ALICE, BOB, cliAs, readableCopyOfProject, testUser } from '../helpers/users.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { brokerAsBob, fakeBrokerAs, sharedDirectory, who } from './impostors.js';

/**
 * Issue 11, "clients refuse an impostor broker": any local user may bind the
 * socket path while the real broker is down. A client asks the kernel who
 * listens before it sends anything, and talks only to root, itself, or the
 * user brokerUid / --broker-uid / $SOCKBUS_BROKER_UID names.
 */

describe('a client checks who runs the broker before it sends anything', () => {
  it('refuses a listener run by another user, with nothing sent to it: connect() rejects, the CLI exits 1 (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const socketPath = join(sharedDirectory(), 'bus.sock');
    const fake = await fakeBrokerAs(BOB, copy, socketPath);

    const refusal = (await connect({ path: socketPath, name: 'secret-name' }).catch((error: unknown) => error)) as SockbusError;
    expect([refusal.code, refusal.message]).toEqual([
      'UNTRUSTED_BROKER',
      `the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass brokerUid to trust it`,
    ]);
    for (const command of [['sub', 'secrets.>'], ['pub', 'secrets.plan', '"the plan"']]) {
      const cli = cliAs(ALICE, copy, [...command, '--socket', socketPath]);
      await cli.waitForExit();
      expect([cli.exitCode, cli.stdout, cli.stderr]).toEqual([
        1,
        '',
        `sockbus: the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass --broker-uid to trust it\n`,
      ]);
    }
    expect(await fake.seen(3)).toEqual({ connections: 3, closed: 3, bytes: 0 });
  });

  it('trusts the user brokerUid, --broker-uid or $SOCKBUS_BROKER_UID names, and no one else (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await brokerAsBob(copy);
    const byName = await connectClient(socketPath, { brokerUid: BOB });
    const byUid = await connectClient(socketPath, { brokerUid: testUser(BOB).uid });
    const received: unknown[] = [];
    byName.subscribe('hello', (message) => received.push(message.data));
    await byName.flush();
    byUid.publish('hello', 'through bob\'s broker');
    await waitFor(() => received.length === 1, 'the message');

    const pub = cliAs(ALICE, copy, ['pub', 'hello', '"from alice"', '--broker-uid', BOB, '--socket', socketPath]);
    await pub.waitForExit();
    expect([pub.exitCode, pub.stderr]).toEqual([0, '']);
    await waitFor(() => received.length === 2, 'alice\'s message');

    const wrong = (await connect({ path: socketPath, brokerUid: ALICE }).catch((error: unknown) => error)) as SockbusError;
    expect(wrong.message).toBe(`the broker on ${socketPath} runs as ${who(BOB)}, not ${who(ALICE)} as brokerUid asks, nor root or you`);
    const unknown = (await connect({ path: socketPath, brokerUid: 'sockbus-nobody-such' }).catch((error: unknown) => error)) as SockbusError;
    expect([unknown.code, unknown.message]).toEqual(['UNTRUSTED_BROKER', 'brokerUid "sockbus-nobody-such" names no user on this system']);
    const unknownCli = cliAs(ALICE, copy, ['sub', 'x', '--broker-uid', 'sockbus-nobody-such', '--socket', socketPath]);
    await unknownCli.waitForExit();
    expect([unknownCli.exitCode, unknownCli.stderr]).toEqual([1, 'sockbus: --broker-uid "sockbus-nobody-such" names no user on this system\n']);

    process.env['SOCKBUS_BROKER_UID'] = String(testUser(BOB).uid);
    try {
      (await connectClient(socketPath)).publish('hello', 'trusted by the environment');
      await waitFor(() => received.length === 3, 'the message of the client trusting by $SOCKBUS_BROKER_UID');
      process.env['SOCKBUS_BROKER_UID'] = ALICE;
      const fromEnvironment = (await connect({ path: socketPath }).catch((error: unknown) => error)) as SockbusError;
      expect(fromEnvironment.message).toBe(`the broker on ${socketPath} runs as ${who(BOB)}, not ${who(ALICE)} as $SOCKBUS_BROKER_UID asks, nor root or you`);
    } finally {
      delete process.env['SOCKBUS_BROKER_UID'];
    }
    expect(received).toEqual(['through bob\'s broker', 'from alice', 'trusted by the environment']);
  });

  it('trusts a root broker by default, and the broker of its own user (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o755), 'bus.sock') });
    const pub = cliAs(ALICE, copy, ['pub', 'hello', '1', '--socket', socketPath]);
    await pub.waitForExit();
    expect([pub.exitCode, pub.stderr]).toEqual([0, '']);
    const own = cliAs(BOB, copy, ['pub', 'hello', '1', '--socket', (await brokerAsBob(copy)).socketPath]);
    await own.waitForExit();
    expect([own.exitCode, own.stderr]).toEqual([0, '']);
  });

  it('checks again on every reconnect: an impostor that binds the path while the broker is down gets nothing, and the client goes back to the real one (row: impostor between stop and start)', async () => {
    const copy = readableCopyOfProject();
    const socketPath = join(sharedDirectory(), 'bus.sock');
    const broker = await startBroker({ socketPath });
    const client = await connectClient(socketPath, { maxReconnectDelayMs: 200 });
    const errors: SockbusError[] = [];
    client.on('error', (error) => errors.push(error));
    await broker.child.kill('SIGTERM'); // a clean stop removes the socket file, and the path is free
    const fake = await fakeBrokerAs(BOB, copy, socketPath);
    await waitFor(() => errors.length >= 2, 'two refused reconnects');
    expect(errors[0]!.code).toBe('UNTRUSTED_BROKER');
    expect(errors[0]!.message).toBe(`the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass brokerUid to trust it`);
    expect(client.state).toBe('reconnecting');
    client.publish('while.away', 'kept for the real broker');
    await fake.child.kill();
    const seen = await fake.seen(2);
    expect(seen.bytes).toBe(0);

    const reconnected = nextEvent(client, 'reconnect');
    await startBroker({ socketPath });
    await reconnected;
    expect(client.state).toBe('connected');
  });

  it('without the native addon, checks the socket file\'s owner and says once that the check is weaker (row: impostor broker, no addon)', async () => {
    const copy = readableCopyOfProject({ addon: false });
    const rootBroker = await startBroker({ socketPath: join(makeTempDir(0o755), 'bus.sock') });
    const pub = cliAs(ALICE, copy, ['pub', 'hello', '1', '--socket', rootBroker.socketPath]);
    await pub.waitForExit();
    expect([pub.exitCode, pub.stderr]).toEqual([
      0,
      `sockbus: warning: cannot ask the kernel who runs the broker on ${rootBroker.socketPath} (the native addon was not built); trusting it by the socket file's owner instead, a weaker check\n`,
    ]);

    const socketPath = join(sharedDirectory(), 'bus.sock');
    const fake = await fakeBrokerAs(BOB, copy, socketPath);
    const sub = cliAs(ALICE, copy, ['sub', 'x', '--socket', socketPath]);
    await sub.waitForExit();
    expect([sub.exitCode, sub.stderr.split('\n')[1]]).toEqual([
      1,
      `sockbus: the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass --broker-uid to trust it`,
    ]);
    expect((await fake.seen(1)).bytes).toBe(0);
  });

});
