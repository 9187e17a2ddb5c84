import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { BROKER_BIN, Child, makeTempDir, PROJECT_ROOT, track } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** Runs sockbusd under Debian's systemd-socket-activate, which listens first and starts the broker on the first connection. */
function activate(socketPath: string): Child {
  const child = spawn('systemd-socket-activate', ['--listen', socketPath, '--fdname=sockbus', process.execPath, BROKER_BIN], { stdio: ['ignore', 'pipe', 'pipe'] });
  return track(new Child(child));
}

describe('systemd socket activation', () => {
  it('serves the socket systemd made, queues the first clients in the kernel, and leaves the socket file alone', async () => {
    const socketPath = join(makeTempDir(), 'bus.sock');
    const activator = activate(socketPath);
    await waitFor(() => activator.stderr.includes(`Listening on ${socketPath}`), 'systemd-socket-activate to listen');
    const before = statSync(socketPath);
    // No broker runs yet: this connection is what starts it, and it must not be refused meanwhile.
    expect(activator.stdout).toBe('');
    const first = await connectClient(socketPath, { name: 'first after boot' });
    await waitFor(() => activator.stdout.includes('listening on'), 'the broker to say it listens');
    expect(activator.stdout).toBe(`sockbusd 0.2.0 listening on ${socketPath} (socket fd 3 from systemd, pid ${activator.pid})\n`);

    const inbox = await collect(first, 'boot.>');
    const second = await connectClient(socketPath);
    second.publish('boot.done', { ok: true });
    await waitForCount(inbox, 1);
    expect(inbox[0]!.data).toEqual({ ok: true });
    expect((await second.brokerStats())['socket']).toBe(socketPath);

    await activator.kill('SIGTERM');
    expect(activator.stderr).toContain('sockbusd: info: SIGTERM received, shutting down');
    const after = statSync(socketPath); // still there: it is systemd's, not the broker's
    expect([after.ino, after.mode]).toEqual([before.ino, before.mode]);
  });

  it.each([
    ['system-wide', '', []],
    ['per-user', 'user/', ['--user']],
  ] as const)('ships %s unit files that systemd accepts', async (_scope, subdirectory, flags) => {
    const directory = makeTempDir();
    for (const unit of ['sockbus.socket', 'sockbus.service']) {
      // Checked with ExecStart pointing at this build of the broker, which systemd-analyze requires to exist.
      const text = readFileSync(join(PROJECT_ROOT, 'contrib/systemd', subdirectory, unit), 'utf8').replace('/usr/local/bin/sockbusd', BROKER_BIN);
      writeFileSync(join(directory, unit), text);
    }
    const verify = spawn('systemd-analyze', ['verify', ...flags, join(directory, 'sockbus.socket'), join(directory, 'sockbus.service')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // A user manager needs a runtime directory, as a login session has.
      env: { ...process.env, XDG_RUNTIME_DIR: directory },
    });
    const check = track(new Child(verify));
    await check.waitForExit();
    expect([check.exitCode, check.stderr]).toEqual([0, '']);
  });
});
