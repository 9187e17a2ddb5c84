import { connect as connectToNats } from 'nats';
import { describe, expect, it } from 'vitest';
import type { Client } from '../../client/index.js';
import { runCli, spawnBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { freePort } from '../helpers/free-port.js';
import { startNatsServer } from '../helpers/nats.js';
import { makeTempDir, spawnNode } from '../helpers/processes.js';
import { readableCopyOfProject } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const bridgeArgs = (port: number, ...rest: string[]) => ['--bridge', `nats://127.0.0.1:${port}`, ...rest];

async function bridgeStats(client: Client): Promise<Record<string, unknown>> {
  return (await client.brokerStats())['bridge'] as Record<string, unknown>;
}

async function bridgedBrokers(port: number, args: string[][]) {
  const brokers = await Promise.all(args.map((extra) => startBroker({ args: bridgeArgs(port, ...extra) })));
  const clients = await Promise.all(brokers.map((broker) => connectClient(broker.socketPath)));
  for (const client of clients) await waitFor(async () => (await bridgeStats(client))['connected'] === true, 'the bridge to reach NATS');
  return { brokers, clients };
}

describe('the NATS bridge', () => {
  it('carries a message from one machine\'s broker to another\'s exactly once, with headers and data intact, when both bridge the same subjects', async () => {
    const port = await freePort();
    await startNatsServer(port);
    const both = ['--export', 'telemetry.>', '--import', 'telemetry.>'];
    const { clients: [a, b] } = await bridgedBrokers(port, [both, both]);
    const onA = await collect(a!, 'telemetry.>');
    const onB = await collect(b!, 'telemetry.>');
    await waitFor(async () => (await a!.brokerStats())['subscriptions'] === 2 && (await b!.brokerStats())['subscriptions'] === 2, 'every subscription');

    const data = { load: [0.5, 0.25], raw: Buffer.from([1, 2, 3]), name: 'cpu' };
    a!.publish('telemetry.cpu', data, { headers: { host: 'a' } });
    a!.publish('telemetry.end', null);
    await waitForCount(onB, 2);
    expect(onB[0]).toEqual({ topic: 'telemetry.cpu', data, headers: { host: 'a' } });
    // Once B has the end marker, any loop would already have sent copies around: B re-exports nothing.
    await waitFor(async () => (await bridgeStats(b!))['imported'] === 2, 'B to count both imports');
    expect(await bridgeStats(a!)).toMatchObject({ exported: 2, imported: 0, notForwarded: 0 });
    expect(await bridgeStats(b!)).toMatchObject({ exported: 0, imported: 2 });
    await b!.flush();
    expect(onA.map((message) => message.topic)).toEqual(['telemetry.cpu', 'telemetry.end']);
    expect(onB.map((message) => message.topic)).toEqual(['telemetry.cpu', 'telemetry.end']);
  });

  it('puts a machine prefix in front of exported subjects', async () => {
    const port = await freePort();
    await startNatsServer(port);
    const { clients: [a, b] } = await bridgedBrokers(port, [['--export', 'telemetry.>', '--bridge-prefix', 'host-a'], ['--import', '*.telemetry.>']]);
    const onB = await collect(b!, '*.telemetry.>');
    a!.publish('telemetry.disk', 91);
    await waitForCount(onB, 1);
    expect(onB[0]).toEqual({ topic: 'host-a.telemetry.disk', data: 91 });
  });

  it('keeps local traffic going while NATS is down, counts what it could not forward, and reconnects when NATS is back', async () => {
    const port = await freePort();
    const nats = await startNatsServer(port);
    const { brokers: [brokerA], clients: [a, b] } = await bridgedBrokers(port, [['--export', 'jobs.>'], ['--import', 'jobs.>']]);
    const onB = await collect(b!, 'jobs.>');
    const localOnA = await collect(await connectClient(brokerA!.socketPath), 'jobs.>');

    await nats.kill('SIGKILL');
    await waitFor(async () => (await bridgeStats(a!))['connected'] === false, 'A to notice NATS is gone');
    for (let n = 0; n < 5; n++) a!.publish('jobs.offline', n);
    await waitForCount(localOnA, 5, 'local deliveries while NATS is down');
    await waitFor(async () => (await bridgeStats(a!))['notForwarded'] === 5, 'the five to be counted as not forwarded');
    expect(await runCli(['stats', '--socket', brokerA!.socketPath]).then((cli) => cli.stdout)).toMatch(/^bridge\.notForwarded +5$/m);

    await startNatsServer(port);
    for (const client of [a!, b!]) {
      await waitFor(async () => (await bridgeStats(client))['connected'] === true, 'the bridges to reconnect', 20_000);
    }
    expect((await bridgeStats(a!))['reconnects']).toBeGreaterThanOrEqual(1);
    // B's import subscription came back with its connection: what A exports now arrives.
    await waitFor(async () => {
      a!.publish('jobs.online', 'back');
      await a!.flush();
      return onB.some((message) => message.topic === 'jobs.online');
    }, 'an export to reach B again', 20_000);
    expect(onB.some((message) => message.topic === 'jobs.offline')).toBe(false);
  });

  it('delivers what a plain NATS client publishes, as data when it is msgpack and as bytes when not', async () => {
    const port = await freePort();
    await startNatsServer(port);
    const { clients: [local] } = await bridgedBrokers(port, [['--import', 'sensors.>']]);
    const inbox = await collect(local!, 'sensors.>');
    const nats = await connectToNats({ servers: `127.0.0.1:${port}` });
    try {
      nats.publish('sensors.text', new TextEncoder().encode('21.5 C'));
      nats.publish('sensors.packed', Uint8Array.from([0x92, 0x01, 0xa1, 0x78])); // msgpack [1, "x"]
      await nats.flush();
      await waitForCount(inbox, 2);
    } finally {
      await nats.close();
    }
    expect(inbox.map((message) => [message.topic, message.data])).toEqual([
      ['sensors.text', Buffer.from('21.5 C')],
      ['sensors.packed', [1, 'x']],
    ]);
  });

  it('refuses bridge options that do not make sense, before starting', async () => {
    const cases: Array<[string[], string]> = [
      [['--export', 'a.>'], '--export, --import and --bridge-prefix need --bridge URL'],
      [['--bridge', 'http://localhost:4222', '--export', 'a'], '--bridge must look like nats://HOST:PORT, not "http://localhost:4222"'],
      [['--bridge', 'nats://localhost:4222'], '--bridge needs at least one --export or --import pattern'],
      [['--bridge', 'nats://localhost:4222', '--import', 'a..b'], '--export/--import: invalid pattern "a..b": empty token (two dots in a row, or a dot at either end)'],
    ];
    for (const [args, message] of cases) {
      const broker = spawnBroker(join(makeTempDir(), 'bus.sock'), args);
      await broker.waitForExit();
      expect([broker.exitCode, broker.stderr.split('\n')[0]]).toEqual([2, `sockbusd: ${message}`]);
    }
  });
});

describe('the NATS bridge without the nats package', () => {
  it('says how to install it and does not start', async () => {
    // The built code and its runtime dependencies without nats, an optional peer, as `npm install sockbus` leaves them.
    const copy = readableCopyOfProject({ addon: false });
    const socketPath = join(copy, 'bus.sock');
    const broker = spawnNode(join(copy, 'dist/broker/main.js'), ['--socket', socketPath, '--bridge', 'nats://127.0.0.1:4222', '--export', 'a.>'], { cwd: copy });
    await broker.waitForExit();
    expect(broker.exitCode).toBe(1);
    expect(broker.stderr).toContain(
      'sockbusd: --bridge needs the NATS client, the optional package `nats`, which is not installed; install it beside sockbus with `npm install nats` (`npm install -g nats` for a global sockbus)\n',
    );
    expect(existsSync(socketPath)).toBe(false);
  });
});

describe('the NATS bridge under an access policy', () => {
  // Attack row: "publish via an unauthenticated local nats-server that the bridge imports from": delivered although
  // the policy denied the publisher, stamped with the broker's own sender.
  it('is a principal of its own: it imports only what the "bridge" entry allows, counts the rest, and says so in the sender', async () => {
    const port = await freePort();
    await startNatsServer(port);
    const directory = makeTempDir(0o755);
    const aclPath = join(directory, 'acl.json');
    writeFileSync(aclPath, JSON.stringify({ bridge: { publish: ['commands.allowed.>'] }, uids: { 0: { publish: ['>'], subscribe: ['>'] } } }));
    const broker = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--acl', aclPath, ...bridgeArgs(port, '--import', 'commands.>')] });
    const local = await connectClient(broker.socketPath);
    await waitFor(async () => (await bridgeStats(local))['connected'] === true, 'the bridge to reach NATS');
    const inbox = await collect(local, 'commands.>');
    const outsider = await connectToNats({ servers: `127.0.0.1:${port}` });
    outsider.publish('commands.denied.reboot', new Uint8Array([0xa3, 0x6e, 0x6f, 0x77]));
    outsider.publish('commands.allowed.ping', new Uint8Array([0xa2, 0x68, 0x69]));
    await outsider.flush();
    await outsider.close();
    await waitFor(async () => (await bridgeStats(local))['importsDenied'] === 1, 'the denied import to be counted');
    await waitForCount(inbox, 1);
    await local.flush();
    expect(inbox.map((message) => [message.topic, message.data])).toEqual([['commands.allowed.ping', 'hi']]);
    expect(inbox[0]!.sender).toEqual({ uid: 0, pid: broker.child.pid, via: 'bridge' });
    expect(await bridgeStats(local)).toMatchObject({ imported: 1, importsDenied: 1 });
  });
});
