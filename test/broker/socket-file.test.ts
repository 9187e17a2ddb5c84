import { lstatSync, mkdirSync, renameSync, statSync, symlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import { expectServing, raceTenBrokers, spawnBroker, startBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const permissions = (path: string) => lstatSync(path).mode & 0o777;

describe('the broker owns its socket file', () => {
  it('creates the socket with mode 0666 and prints where it listens', async () => {
    const broker = await startBroker();
    expect(lstatSync(broker.socketPath).isSocket()).toBe(true);
    expect(permissions(broker.socketPath)).toBe(0o666);
    expect(broker.child.stdout).toBe(`sockbusd 0.2.0 listening on ${broker.socketPath} (mode 0666, pid ${broker.child.pid})\n`);
  });

  it('honours --mode, and the socket never exists with another mode', async () => {
    const directory = makeTempDir();
    const socketPath = join(directory, 'bus.sock');
    const child = spawnBroker(socketPath, ['--mode', '0660']);
    // Watch from the very first moment the file exists.
    const seenModes = new Set<number>();
    await waitFor(() => {
      if (existsSync(socketPath)) seenModes.add(permissions(socketPath));
      return child.stdout.includes('listening');
    }, 'the broker to listen');
    expect([...seenModes]).toEqual([0o660]);
    expect(child.stdout).toContain('(mode 0660,');
  });

  it('creates a missing parent directory with mode 0755', async () => {
    const socketPath = join(makeTempDir(), 'run', 'sockbus', 'bus.sock');
    await startBroker({ socketPath });
    expect(statSync(join(socketPath, '..')).mode & 0o777).toBe(0o755);
  });

  it('refuses a path longer than sun_path allows, naming the limit and the length', async () => {
    const socketPath = join(makeTempDir(), 'x'.repeat(120));
    const child = spawnBroker(socketPath);
    await child.waitForExit();
    expect(child.exitCode).toBe(1);
    const length = Buffer.byteLength(socketPath);
    expect(child.stderr).toBe(`sockbusd: socket path is ${length} bytes long, but linux allows at most 107 bytes: ${socketPath}\n`);
  });

  it('refuses to start beside a live broker and touches nothing', async () => {
    const broker = await startBroker();
    const before = lstatSync(broker.socketPath);
    const second = spawnBroker(broker.socketPath);
    await second.waitForExit();
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toBe(`sockbusd: another broker is listening on ${broker.socketPath}\n`);
    const after = lstatSync(broker.socketPath);
    expect(after.ino).toBe(before.ino);
    expect(broker.child.running).toBe(true);
    await expectServing(broker.socketPath);
  });

  it('refuses to start beside a live broker even without the start lock (a broker that serves a moved socket)', async () => {
    // A socket that answers but belongs to no sockbus lock: a plain listener.
    const directory = makeTempDir();
    const socketPath = join(directory, 'bus.sock');
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
    try {
      const child = spawnBroker(socketPath);
      await child.waitForExit();
      expect(child.exitCode).toBe(1);
      expect(child.stderr).toBe(`sockbusd: another broker is listening on ${socketPath}\n`);
      expect(lstatSync(socketPath).isSocket()).toBe(true);
    } finally {
      listener.close();
    }
  });

  it('replaces the stale socket a SIGKILLed broker left behind', async () => {
    const broker = await startBroker();
    await broker.child.kill('SIGKILL');
    expect(lstatSync(broker.socketPath).isSocket()).toBe(true);
    const next = await startBroker({ socketPath: broker.socketPath, args: ['--log-level', 'info'] });
    // Logged on stderr before "listening" on stdout, but the two pipes arrive in no fixed order.
    await waitFor(() => next.child.stderr.includes(`removed stale socket ${broker.socketPath}`), 'the broker to log the removal');
    await expectServing(broker.socketPath);
  });

  it.each([
    ['a regular file', (path: string) => writeFileSync(path, 'precious data'), 'a regular file'],
    ['a directory', (path: string) => mkdirSync(path), 'a directory'],
    ['a symbolic link', (path: string) => symlinkSync('/etc/passwd', path), 'a symbolic link'],
  ])('leaves %s at the path alone and says so', async (_name, create, what) => {
    const socketPath = join(makeTempDir(), 'bus.sock');
    create(socketPath);
    const before = lstatSync(socketPath);
    const child = spawnBroker(socketPath);
    await child.waitForExit();
    expect(child.exitCode).toBe(1);
    expect(child.stderr).toBe(
      `sockbusd: ${socketPath} exists and is ${what}, not a socket; refusing to replace it (remove it yourself if it is not needed)\n`,
    );
    expect(lstatSync(socketPath).ino).toBe(before.ino);
    if (what === 'a regular file') expect(readFileSync(socketPath, 'utf8')).toBe('precious data');
  });

  it('ten brokers started at once on one path leave exactly one listening', async () => {
    await raceTenBrokers(join(makeTempDir(), 'bus.sock'));
  });

  it('SIGTERM says going-away to clients and removes its own socket file', async () => {
    const broker = await startBroker();
    const client = await connect({ path: broker.socketPath, reconnect: false });
    const disconnected = new Promise<Error>((resolve) => client.on('disconnect', resolve));
    await broker.child.kill('SIGTERM');
    expect(broker.child.exitCode).toBe(0);
    expect((await disconnected).message).toBe('the broker is going away: broker stopped by SIGTERM');
    expect(existsSync(broker.socketPath)).toBe(false);
  });

  it('on shutdown leaves a socket file that is no longer its own', async () => {
    const broker = await startBroker();
    // Someone moves our socket away and another program binds the path.
    renameSync(broker.socketPath, `${broker.socketPath}.moved`);
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(broker.socketPath, resolve));
    const replacement = lstatSync(broker.socketPath).ino;
    try {
      await broker.child.kill('SIGTERM');
      expect(broker.child.exitCode).toBe(0);
      expect(lstatSync(broker.socketPath).ino).toBe(replacement);
    } finally {
      other.close();
    }
  });
});
