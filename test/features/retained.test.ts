import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type Client, type SockbusError } from '../../client/index.js';
import { restartBroker, spawnBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

const summary = (messages: Array<{ topic: string; data: unknown; retained?: true }>) =>
  messages.map((message) => [message.topic, message.data, message.retained ?? false]);

async function publishRetained(client: Client, values: Record<string, unknown>): Promise<void> {
  for (const [topic, data] of Object.entries(values)) client.publish(topic, data, { retain: true });
  await client.flush();
}

describe('retained values', () => {
  it('gives a new subscription the last value of each matching topic, marked retained, then live messages unmarked', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    await publishRetained(publisher, { 'state.theme': 'light', 'state.lang': 'en', 'other.x': 1 });
    await publishRetained(publisher, { 'state.theme': 'dark' });
    const late = await connectClient(socketPath);
    const wildcard = await collect(late, 'state.*');
    const exact = await collect(late, 'state.lang');
    publisher.publish('state.lang', 'fr');
    await waitForCount(wildcard, 3);
    await waitForCount(exact, 2);
    // Replay order is the order values were last set.
    expect(summary(wildcard)).toEqual([
      ['state.lang', 'en', true],
      ['state.theme', 'dark', true],
      ['state.lang', 'fr', false],
    ]);
    expect(summary(exact)).toEqual([
      ['state.lang', 'en', true],
      ['state.lang', 'fr', false],
    ]);
    // A replay names who published the value, as a live message does.
    expect(wildcard[0]!.sender).toEqual({ uid: process.getuid!(), pid: process.pid });
  });

  it('keeps headers with the value, and clears it on a retained null', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    publisher.publish('presence.ana', { status: 'away' }, { retain: true, headers: { since: '09:00' } });
    await publisher.flush();
    const first = await collect(await connectClient(socketPath), 'presence.>');
    await waitForCount(first, 1);
    expect(first[0]).toEqual({ topic: 'presence.ana', data: { status: 'away' }, headers: { since: '09:00' }, retained: true });

    publisher.publish('presence.ana', null, { retain: true });
    await publisher.flush();
    expect(await publisher.brokerStats()).toMatchObject({ retained: 0, retainedBytes: 0 });
    const second = await collect(await connectClient(socketPath), 'presence.>');
    publisher.publish('presence.bob', 'here');
    await waitForCount(second, 1);
    expect(summary(second)).toEqual([['presence.bob', 'here', false]]);
  });

  it('does not replay retained values to queue group members', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    await publishRetained(publisher, { 'jobs.config': { workers: 4 } });
    const member = await connectClient(socketPath);
    const received: unknown[] = [];
    member.subscribe('jobs.>', { queue: 'pool' }, (message) => received.push(message.data));
    await member.flush();
    publisher.publish('jobs.run', 1);
    await waitForCount(received, 1);
    expect(received).toEqual([1]);
  });

  it('refuses a value past the count or byte bound with a clear error, still delivers it live, and counts it', async () => {
    const { socketPath } = await startBroker({ args: ['--max-retained', '2', '--max-retained-bytes', '1KiB'] });
    const publisher = await connectClient(socketPath);
    const live = await collect(await connectClient(socketPath), 'cfg.>');
    await publishRetained(publisher, { 'cfg.a': 1, 'cfg.b': 2 });

    const refusedByCount = nextEvent<SockbusError>(publisher, 'error');
    publisher.publish('cfg.c', 3, { retain: true });
    expect(await refusedByCount).toMatchObject({
      code: ErrorCode.RetainedStoreFull,
      message: 'cfg.c was delivered but not retained: the broker already retains 2 topics, the most it allows (--max-retained)',
    });
    const refusedByBytes = nextEvent<SockbusError>(publisher, 'error');
    publisher.publish('cfg.a', 'x'.repeat(2000), { retain: true });
    expect((await refusedByBytes).message).toMatch(
      /^cfg\.a was delivered but not retained: retained values would take \d+ bytes, more than the 1024 the broker allows \(--max-retained-bytes\)$/,
    );
    // Changing a topic already retained stays possible within the bounds.
    await publishRetained(publisher, { 'cfg.b': 'two' });
    await waitForCount(live, 5);
    expect(summary(live).map(([topic]) => topic)).toEqual(['cfg.a', 'cfg.b', 'cfg.c', 'cfg.a', 'cfg.b']);
    expect(await publisher.brokerStats()).toMatchObject({ retained: 2, retainedRefused: 2 });
    const late = await collect(await connectClient(socketPath), 'cfg.>');
    await waitForCount(late, 2);
    expect(summary(late)).toEqual([
      ['cfg.a', 1, true],
      ['cfg.b', 'two', true],
    ]);
  });
});

describe('retained values with --state', () => {
  const stateArgs = (path: string) => ['--state', path];

  async function retainedAfterRestart(broker: { socketPath: string }): Promise<unknown[][]> {
    const received = await collect(await connectClient(broker.socketPath), '>');
    const client = await connectClient(broker.socketPath);
    client.publish('end', null);
    await waitFor(() => received.some((message) => message.topic === 'end'), 'the replay to finish');
    return summary(received.filter((message) => message.topic !== 'end'));
  }

  it('survive a clean restart and a SIGKILL once saved, byte for byte', async () => {
    const statePath = join(makeTempDir(), 'state.bin');
    const broker = await startBroker({ args: stateArgs(statePath) });
    const publisher = await connectClient(broker.socketPath);
    const values = { 'ui.theme': 'dark', 'ui.scale': 1.25, 'ui.blob': Buffer.from([0, 1, 2]), 'ui.gone': 'soon' };
    await publishRetained(publisher, values);
    await publishRetained(publisher, { 'ui.gone': null });
    await publisher.close();

    await broker.child.kill('SIGTERM');
    const second = await restartBroker(broker, stateArgs(statePath));
    expect(second.child.stderr).toContain(`restored 3 retained values from ${statePath}`);
    expect(await retainedAfterRestart(second)).toEqual([
      ['ui.theme', 'dark', true],
      ['ui.scale', 1.25, true],
      ['ui.blob', Buffer.from([0, 1, 2]), true],
    ]);

    const writer = await connectClient(second.socketPath);
    await publishRetained(writer, { 'ui.theme': 'light' });
    await waitFor(() => readFileSync(statePath).includes('light'), 'the change to be saved');
    await second.child.kill('SIGKILL');
    const third = await restartBroker(broker, stateArgs(statePath));
    expect((await retainedAfterRestart(third))[2]).toEqual(['ui.theme', 'light', true]);
    // Who set each value is kept with it.
    const replay = await collect(await connectClient(third.socketPath), 'ui.theme');
    await waitForCount(replay, 1);
    expect(replay[0]!.sender).toEqual({ uid: process.getuid!(), pid: process.pid });
  });

  it.each([
    ['garbage', () => Buffer.from('not a state file at all')],
    ['a file cut short by a crash', (good: Buffer) => good.subarray(0, good.length - 7)],
    ['a flipped bit', (good: Buffer) => Buffer.from(good.map((byte, index) => (index === good.length - 3 ? byte ^ 1 : byte)))],
  ])('sets aside a corrupt file (%s), reports it, and starts empty', async (_what, damage) => {
    const statePath = join(makeTempDir(), 'state.bin');
    const broker = await startBroker({ args: stateArgs(statePath) });
    const publisher = await connectClient(broker.socketPath);
    await publishRetained(publisher, { 'a.b': 'value' });
    await publisher.close();
    await broker.child.kill('SIGTERM');
    writeFileSync(statePath, damage(readFileSync(statePath)));

    const restarted = await restartBroker(broker, stateArgs(statePath));
    const asideName = readdirSync(dirname(statePath)).find((name) => name.startsWith('state.bin.corrupt-'));
    expect(asideName).toBeDefined();
    expect(restarted.child.stderr).toMatch(
      new RegExp(`sockbusd: warn: the state file ${statePath} is corrupt \\(.+\\); moved it to ${join(dirname(statePath), asideName!)} and started with no retained values`),
    );
    expect(await retainedAfterRestart(restarted)).toEqual([]);
    // And it goes on keeping state in the same place.
    const client = await connectClient(restarted.socketPath);
    await publishRetained(client, { 'a.b': 'fresh' });
    await waitFor(() => existsSync(statePath) && readFileSync(statePath).includes('fresh'), 'the new value to be saved');
  });

  it('refuses to start when the state file cannot be written, saying why', async () => {
    const statePath = join(makeTempDir(), 'missing-directory', 'state.bin');
    const broker = spawnBroker(join(makeTempDir(), 'bus.sock'), stateArgs(statePath));
    await broker.waitForExit();
    expect(broker.exitCode).toBe(1);
    expect(broker.stderr).toMatch(new RegExp(`^sockbusd: cannot write the state file ${statePath}: ENOENT: no such file or directory`, 'm'));
  });
});
