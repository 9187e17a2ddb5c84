import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/free-port.js';
import type { SystemName } from './adapters.js';
import { buildCBench, C_BENCH_PROGRAM } from './c-client.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));

export interface RunningServer {
  system: SystemName;
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export interface ServerDefinition {
  system: SystemName;
  /** Why it cannot run here, or null when it can. */
  unavailable(): string | null;
  version(): string;
  start(directory: string): Promise<RunningServer>;
}

function onPath(command: string): boolean {
  try {
    execFileSync('which', [command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function firstLine(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? '').split('\n')[0]!.trim() || 'unknown';
  }
}

async function waitUntil(ready: () => boolean | Promise<boolean>, what: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ready())) {
    if (child.exitCode !== null) throw new Error(`${what}: exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const canConnect = (options: net.NetConnectOpts) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(options);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

/** Starts a server process and returns once it accepts connections; stopped by its own pid. */
async function launch(system: SystemName, command: string, args: string[], address: string, probe: net.NetConnectOpts): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  try {
    await waitUntil(() => canConnect(probe), `${system} server`, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}: ${stderr.trim()}`);
  }
  return {
    system,
    address,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        // SIGTERM first, so a profiled broker can write its profile; SIGKILL if it lingers.
        const force = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** The Node flags on a script's `#!/usr/bin/env -S node ...` line: the broker is measured as the sockbusd command runs it. */
function shebangFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/) : [];
}

const sockbusVersion = () => firstLine(process.execPath, [join(DIST, 'broker/main.js'), '--version']);

function startSockbus(system: 'sockbus' | 'sockbus-c', directory: string): Promise<RunningServer> {
  const path = join(directory, 'sockbus.sock');
  // SOCKBUS_BENCH_PROFILE=DIR writes a V8 CPU profile of each broker run there.
  const profile = process.env['SOCKBUS_BENCH_PROFILE'];
  const node = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  // Buffering limits lifted, as for every system here: the per-connection buffer and the user's memory share (all bench clients are one user).
  const limits = ['--max-pending', '256MiB', '--max-memory-per-uid', '3GiB', '--max-memory', '3GiB', '--max-subscriptions', '20000'];
  const script = join(DIST, 'broker/main.js');
  const args = [...node, ...shebangFlags(script), script, '--socket', path, '--log-level', 'error', ...limits];
  return launch(system, process.execPath, args, path, { path });
}

export const SERVERS: ServerDefinition[] = [
  {
    system: 'raw',
    unavailable: () => null,
    version: () => `raw relay on node ${process.version}`,
    start: (directory) => {
      const path = join(directory, 'raw.sock');
      return launch('raw', process.execPath, [join(DIST, 'bench/raw-relay.js'), path], path, { path });
    },
  },
  {
    system: 'sockbus',
    unavailable: () => null,
    version: sockbusVersion,
    start: (directory) => startSockbus('sockbus', directory),
  },
  {
    // The same broker, driven by C publishers and subscribers: its capacity without the Node clients' cost.
    system: 'sockbus-c',
    unavailable: buildCBench,
    version: () => `${sockbusVersion()}, clients ${firstLine(C_BENCH_PROGRAM, ['--version'])}`,
    start: (directory) => startSockbus('sockbus-c', directory),
  },
  {
    system: 'redis',
    unavailable: () => (onPath('redis-server') ? null : 'redis-server is not installed'),
    version: () => firstLine('redis-server', ['--version']),
    start: (directory) => {
      const path = join(directory, 'redis.sock');
      const args = ['--port', '0', '--unixsocket', path, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', directory, '--client-output-buffer-limit', 'pubsub', '0', '0', '0'];
      return launch('redis', 'redis-server', args, path, { path });
    },
  },
  {
    system: 'mosquitto',
    unavailable: () => (onPath('mosquitto') ? null : 'mosquitto is not installed'),
    version: () => firstLine('mosquitto', ['-h']),
    start: (directory) => {
      const path = join(directory, 'mosquitto.sock');
      const config = join(directory, 'mosquitto.conf');
      // As root, mosquitto would drop to its own user, which cannot write in our private directory.
      const user = process.getuid?.() === 0 ? "user root\n" : "";
      writeFileSync(config, `${user}listener 0 ${path}\nallow_anonymous true\n`);
      return launch('mosquitto', 'mosquitto', ['-c', config], path, { path });
    },
  },
  {
    system: 'nats',
    unavailable: () => (onPath('nats-server') ? null : 'nats-server is not installed'),
    version: () => firstLine('nats-server', ['--version']),
    start: async () => {
      const port = await freePort();
      return launch('nats', 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', '0'], `127.0.0.1:${port}`, { host: '127.0.0.1', port });
    },
  },
];

export function residentBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

