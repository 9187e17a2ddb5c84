import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { BROKER_BIN, Child, makeTempDir, track } from '../helpers/processes.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { ALICE, readableCopyOfProject, spawnAs } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

describe('work in proportion to the answer', () => {
  // Attack row: "--state with 60 MB retained, re-retaining a tiny value every 5 ms": 258 MB/s to disk.
  it('writes the state file at most about once a second, however often a user re-retains', async () => {
    const directory = makeTempDir(0o755);
    mkdirSync(join(directory, 'state'), { mode: 0o755 });
    const statePath = join(directory, 'state', 'retained.bin');
    const broker = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--state', statePath] });
    const script = join(directory, 'retain-loop.json');
    writeFileSync(script, JSON.stringify(Array.from({ length: 600 }, (_, index) => [3, 'alice.setting', index, null, { retain: true }])), { mode: 0o644 });
    // Each save renames a new file over the old one. Inode numbers are reused, so count changes of inode and time.
    let last = '';
    let writesSeen = 0;
    const watch = setInterval(() => {
      const stats = statSync(statePath, { bigint: true });
      const identity = `${stats.ino}:${stats.mtimeNs}`;
      if (identity !== last) writesSeen++;
      last = identity;
    }, 2);
    try {
      // 600 retains, a few milliseconds apart, over about three seconds.
      const looper = spawnAs(ALICE, readableCopyOfProject(), 'fixtures/raw-session.mjs', [broker.socketPath, 'retain-loop', script, 'end', '5']);
      await looper.waitForExit(30_000);
      expect(looper.stdout).toBe('pong\n');
    } finally {
      clearInterval(watch);
    }
    expect(writesSeen).toBeLessThanOrEqual(8);
    const observer = await connectClient(broker.socketPath);
    expect(await observer.brokerStats()).toMatchObject({ retained: 1 });
  });

  // Attack row: "stats requests in a loop with 3,000 idle connections": 97 % CPU.
  it('answers one user 20 stats requests a second, and closes a connection that piles up more than 64 without waiting', async () => {
    const broker = await startBroker();
    const raw = await RawConnection.open(broker.socketPath);
    raw.socket.write(Buffer.concat(Array.from({ length: 100 }, (_, token) => RawConnection.frame([MessageKind.StatsRequest, token]))));
    await raw.waitForClose();
    const answers = raw.received.filter((message) => message.kind === MessageKind.Stats);
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.length).toBeLessThan(100);
    expect(raw.received.find((message) => message.kind === MessageKind.Error)).toEqual({
      kind: MessageKind.Error,
      code: 'RATE_LIMITED',
      message: '64 stats requests are already waiting on this connection: a user gets 20 stats answers a second',
      about: { kind: MessageKind.StatsRequest },
    });
    // The waiting ones were answered in order, later.
    expect(answers.map((answer) => (answer as { token: number }).token)).toEqual(answers.map((_, index) => index));
  });

  // Attack row: "hello names of 1 MB": 9 of them made stats, clients and monitor fail for everyone (SLOW_CONSUMER).
  it('cuts the client list to fit the asker\'s buffer, and says so', async () => {
    const broker = await startBroker({ args: ['--max-pending', '64KiB'] });
    const name = 'n'.repeat(250);
    const idle: RawConnection[] = [];
    for (let index = 0; index < 600; index++) {
      const connection = await RawConnection.open(broker.socketPath, { hello: false });
      connection.sendValue([MessageKind.Hello, { version: 2, name }]);
      idle.push(connection);
    }
    const observer = await connectClient(broker.socketPath);
    await waitFor(async () => (await observer.brokerStats())['connections'] === 601, 'every idle connection');
    const stats = await observer.brokerStats();
    expect(stats).toMatchObject({ clientsTruncated: true, clientsTotal: 601 });
    expect((stats['clients'] as unknown[]).length).toBeLessThan(601);
    expect((stats['clients'] as unknown[]).length).toBeGreaterThan(100);
  });
});

describe('connection slots and the file limit', () => {
  it('sizes --max-connections to the open-file limit, and refuses the rest with a clear error instead of failing in accept', async () => {
    const socketPath = join(makeTempDir(), 'bus.sock');
    const broker = track(new Child(spawn('prlimit', ['--nofile=200:200', process.execPath, BROKER_BIN, '--socket', socketPath, '--max-connections-per-uid', '1000'], { stdio: ['pipe', 'pipe', 'pipe'] })));
    await waitFor(() => broker.stdout.includes('listening on') || !broker.running, 'the broker to listen');
    expect(broker.stderr).toBe('sockbusd: info: serving at most 136 connections: the limit on open files is 200 (raise it with ulimit -n or LimitNOFILE=), 64 kept for the broker itself\n');
    const connections: RawConnection[] = [];
    for (let index = 0; index < 150; index++) connections.push(await RawConnection.open(socketPath, { hello: false }));
    // One user: the last tenth of the 136 slots is kept for others.
    await waitFor(() => connections.filter((connection) => connection.closed).length === 150 - 123, 'the connections past the limit to be closed');
    const refused = connections.find((connection) => connection.closed)!;
    expect(refused.received).toEqual([
      {
        kind: MessageKind.Error,
        code: 'TOO_MANY_CONNECTIONS',
        message: 'the broker is near its limit of 136 connections (--max-connections), and user root (uid 0) already holds 123, more than its fair part: the last slots are kept for users who hold fewer',
      },
    ]);
    expect(broker.running).toBe(true);
    expect(broker.stderr).not.toMatch(/EMFILE|accepting connections/);
    // Refusals are logged once per episode, not once per connection.
    expect(broker.stderr.match(/TOO_MANY_CONNECTIONS/g)).toHaveLength(1);
  });
});
