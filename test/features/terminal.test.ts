import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startBroker, startCli } from '../helpers/broker.js';
import { connectClient, waitForSubscriptions } from '../helpers/clients.js';
import { Child, CLI_BIN, track } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** Runs the CLI with a terminal as its stdout, through util-linux's script, which gives it a pseudo-terminal. */
function onTerminal(args: string[], environment: NodeJS.ProcessEnv = {}): Child {
  const command = [process.execPath, CLI_BIN, ...args].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...environment },
  });
  return track(new Child(child));
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

describe('the command line on a terminal', () => {
  it('sub prints a readable, coloured line per message on a terminal, plain with NO_COLOR, and JSON when piped', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath);
    publisher.publish('desk.theme', 'dark', { retain: true, headers: { origin: 'settings' } });
    await publisher.flush();
    const coloured = onTerminal(['sub', 'desk.>', '--count', '2', '--socket', socketPath]);
    const plain = onTerminal(['sub', 'desk.>', '--count', '2', '--socket', socketPath], { NO_COLOR: '1' });
    const piped = startCli(['sub', 'desk.>', '--count', '2', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 3);
    publisher.publish('desk.size', { width: 1280, height: 800 });
    await Promise.all([coloured, plain, piped].map((child) => child.waitForExit()));

    const who = `(uid ${process.getuid!()}, pid ${process.pid})`;
    const time = '\\d\\d:\\d\\d:\\d\\d\\.\\d{3}';
    const expected = [
      new RegExp(`^${time} desk\\.theme 'dark' origin=settings \\[retained\\] \\(uid \\d+, pid \\d+\\)$`),
      new RegExp(`^${time} desk\\.size \\{ width: 1280, height: 800 \\} \\(uid \\d+, pid \\d+\\)$`),
    ];
    for (const child of [coloured, plain]) {
      const lines = child.stdout.replace(ANSI, '').trim().split(/\r?\n/);
      expect(lines).toHaveLength(2);
      lines.forEach((line, index) => expect(line).toMatch(expected[index]!));
      expect(lines[1]).toContain(who);
    }
    expect(coloured.stdout).toMatch(ANSI);
    expect(plain.stdout).not.toMatch(ANSI);
    expect(piped.stdout.trim().split('\n').map((line) => JSON.parse(line).topic)).toEqual(['desk.theme', 'desk.size']);
  });

  it('monitor redraws a screen in place on a terminal, with the clients, and restores the cursor', async () => {
    const { socketPath } = await startBroker();
    await connectClient(socketPath, { name: 'dashboard' });
    const screen = onTerminal(['monitor', '--interval', '100', '--count', '2', '--socket', socketPath]);
    await screen.waitForExit();
    expect(screen.exitCode).toBe(0);
    const frames = screen.stdout.split('\x1b[H\x1b[2J').slice(1);
    expect(frames).toHaveLength(2);
    const text = frames[1]!.replace(ANSI, '');
    expect(text).toMatch(/^sockbus monitor {2}.+ {2}sockbusd 0\.2\.0 {2}up \d+m\d\ds/);
    expect(text).toMatch(/messages in +\d+\/s +total \d+/);
    expect(text).toMatch(/connections +2 +subscriptions 0/);
    expect(text).toMatch(/ dashboard /);
    expect(text).toMatch(/ sockbus monitor /);
    expect(screen.stdout.endsWith('\x1b[?25h')).toBe(true);
  });

  it('monitor prints a line per interval when piped, shows traffic as it happens, and stops cleanly on SIGINT', async () => {
    const { socketPath } = await startBroker();
    const monitor = startCli(['monitor', '--interval', '100', '--socket', socketPath]);
    await waitFor(() => monitor.stdout.split('\n').length >= 3, 'the header and a first line');
    const lines = () => monitor.stdout.trim().split('\n');
    expect(lines()[0]).toBe('time\tin/s\tout/s\tconnections\tsubscriptions\tdropped\tdropped/s');
    const publisher = await connectClient(socketPath);
    const busy = () => lines().slice(1).some((line) => Number(line.split('\t')[1]) > 0);
    await waitFor(async () => {
      for (let n = 0; n < 500; n++) publisher.publish('load', n);
      await publisher.flush();
      return busy();
    }, 'a line showing messages in per second');
    monitor.process.kill('SIGINT');
    await monitor.waitForExit();
    expect(monitor.exitCode).toBe(0);
    for (const line of lines().slice(1)) expect(line).toMatch(/^\d\d:\d\d:\d\d(\t\d+){6}$/);
  });
});
