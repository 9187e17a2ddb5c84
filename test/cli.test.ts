import { spawn } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, spawnBroker, startBroker, startCli } from './helpers/broker.js';
import { connectClient, waitForSubscriptions } from './helpers/clients.js';
import { BROKER_BIN, Child, CLI_BIN, makeTempDir, PROJECT_ROOT, spawnNode } from './helpers/processes.js';
import { readableCopyOfProject } from './helpers/users.js';
import { waitFor } from './helpers/wait.js';

describe('the sockbus command line', () => {
  it('pub and sub work end to end, with JSON, strings, headers and stdin lines', async () => {
    const { socketPath } = await startBroker();
    const sub = startCli(['sub', 'cli.>', '--count', '5', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    expect((await runCli(['pub', 'cli.json', '{"x":[1,2]}', '--socket', socketPath])).exitCode).toBe(0);
    expect((await runCli(['pub', 'cli.text', 'hello world', '--header', 'trace=abc', '--socket', socketPath])).exitCode).toBe(0);
    expect((await runCli(['pub', 'cli.lines', '-', '--socket', socketPath], { input: '42\nplain text\n{"k":true}\n' })).exitCode).toBe(0);
    await sub.waitForExit();
    expect(sub.exitCode).toBe(0);
    expect(sub.stdout).toBe(
      [
        '{"topic":"cli.json","data":{"x":[1,2]},"headers":{}}',
        '{"topic":"cli.text","data":"hello world","headers":{"trace":"abc"}}',
        '{"topic":"cli.lines","data":42,"headers":{}}',
        '{"topic":"cli.lines","data":"plain text","headers":{}}',
        '{"topic":"cli.lines","data":{"k":true},"headers":{}}',
        '',
      ].join('\n'),
    );
  });

  it('pub --count sends the message N times', async () => {
    const { socketPath } = await startBroker();
    const sub = startCli(['sub', 'many', '--count', '3', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    await runCli(['pub', 'many', '7', '--count', '3', '--socket', socketPath]);
    await sub.waitForExit();
    expect(sub.stdout.trim().split('\n')).toEqual(Array(3).fill('{"topic":"many","data":7,"headers":{}}'));
  });

  it('finds the broker through $SOCKBUS_SOCKET, as the broker does', async () => {
    const socketPath = join(makeTempDir(), 'env.sock');
    const env = { ...process.env, SOCKBUS_SOCKET: socketPath };
    const broker = spawnNode(join(PROJECT_ROOT, 'dist/broker/main.js'), [], { env });
    await waitFor(() => broker.stdout.includes(`listening on ${socketPath}`), 'the broker to listen on the environment\'s path');
    const stats = await runCli(['stats', '--json'], { env });
    expect(stats.exitCode).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ socket: socketPath, connections: 1 });
  });

  it('stats prints the counters and the connected clients', async () => {
    const { socketPath } = await startBroker();
    await connectClient(socketPath, { name: 'dashboard' });
    const stats = await runCli(['stats', '--socket', socketPath]);
    expect(stats.exitCode).toBe(0);
    expect(stats.stdout).toMatch(/^server +sockbusd 0\.2\.0$/m);
    expect(stats.stdout).toMatch(/^connections +2$/m);
    expect(stats.stdout).toMatch(/^1\tdashboard\t0\t/m);
  });

  it.each([['pub', 'x', '1'], ['sub', 'x'], ['stats']])('%s with no broker running: one clear line and exit 1', async (...args) => {
    const socketPath = join(makeTempDir(), 'absent.sock');
    const result = await runCli([...args, '--socket', socketPath]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(`sockbus: no broker is listening on ${socketPath} (is sockbusd running?)\n`);
  });

  it('reports usage errors with exit 2', async () => {
    const result = await runCli(['pub']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^sockbus: usage: sockbus pub TOPIC \[DATA\]\n/);
    const invalid = await runCli(['pub', 'a..b', '1', '--socket', '/nonexistent/s.sock']);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr).toBe('sockbus: invalid topic "a..b": empty token (two dots in a row, or a dot at either end)\n');
  });

  it('sub keeps receiving across a broker SIGKILL and restart', async () => {
    const broker = await startBroker();
    const sub = startCli(['sub', 'live.>', '--count', '2', '--socket', broker.socketPath]);
    await waitForSubscriptions(broker.socketPath, 1);
    await runCli(['pub', 'live.before', '1', '--socket', broker.socketPath]);
    await waitFor(() => sub.stdout.includes('live.before'), 'the first message');
    await broker.child.kill('SIGKILL');
    await waitFor(() => sub.stderr.includes('disconnected'), 'sub to notice the broker is gone');
    await startBroker({ socketPath: broker.socketPath });
    await waitFor(() => sub.stderr.includes('reconnected'), 'sub to reconnect');
    await waitForSubscriptions(broker.socketPath, 1);
    await runCli(['pub', 'live.after', '2', '--socket', broker.socketPath]);
    await sub.waitForExit();
    expect(sub.exitCode).toBe(0);
    expect(sub.stdout).toBe('{"topic":"live.before","data":1,"headers":{}}\n{"topic":"live.after","data":2,"headers":{}}\n');
    expect(sub.stderr).toMatch(/^sockbus: disconnected: .*; reconnecting\nsockbus: reconnected\n$/);
  });

  it('a client running as another user (nobody) connects to the 0666 socket and receives', async () => {
    const home = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o755), 'shared.sock') });
    const sub = spawnNode(join(home, 'dist/cli/main.js'), ['sub', 'shared.>', '--count', '1', '--socket', socketPath], { uid: 65534, gid: 65534, cwd: home });
    await waitForSubscriptions(socketPath, 1);
    await runCli(['pub', 'shared.hello', '"from root"', '--socket', socketPath]);
    await sub.waitForExit();
    expect(sub.stderr).toBe('');
    expect(sub.stdout).toBe('{"topic":"shared.hello","data":"from root","headers":{}}\n');
  });

  it('a client running as another user is refused by a 0600 socket, with a clear message', async () => {
    const home = readableCopyOfProject();
    const { socketPath } = await startBroker({ socketPath: join(makeTempDir(0o755), 'private.sock'), args: ['--mode', '0600'] });
    const sub = spawnNode(join(home, 'dist/cli/main.js'), ['sub', 'x', '--socket', socketPath], { uid: 65534, gid: 65534, cwd: home });
    await sub.waitForExit();
    expect(sub.exitCode).toBe(1);
    expect(sub.stderr).toBe(`sockbus: permission denied connecting to ${socketPath}\n`);
  });

  it('both bins run as programs of their own (executable, with a node shebang), as npx and npm install -g run them', async () => {
    for (const bin of [CLI_BIN, BROKER_BIN]) {
      const child = new Child(spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] }));
      await child.waitForExit();
      expect(child.stderr).toBe('');
      expect(child.stdout).toMatch(/^sockbusd? 0\.2\.0\n$/);
    }
  });

  it('both programs answer --help and --version', async () => {
    const help = await runCli(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sockbus <command>/);
    expect((await runCli(['--version'])).stdout).toBe('sockbus 0.2.0\n');
    const brokerVersion = spawnBroker('/unused', ['--version']);
    await brokerVersion.waitForExit();
    expect(brokerVersion.stdout).toBe('sockbusd 0.2.0\n');
    const brokerUsage = spawnBroker('/unused', ['--mode', 'rw']);
    await brokerUsage.waitForExit();
    expect(brokerUsage.exitCode).toBe(2);
    expect(brokerUsage.stderr).toMatch(/^sockbusd: --mode must be three octal digits such as 0666 or 0660, not "rw"\n/);
  });
});
