import { chmodSync, chownSync, lstatSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Client } from '../../client/index.js';
import { encodeState } from '../../broker/state-format.js';
import { packer } from '../../protocol/index.js';
import { spawnBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { BOB, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { runAs } from './run-as.js';

// Issue 11: `--state FILE` in a directory another user can write. Each test
// prepares the directory as bob would, then starts root's broker on it.
const stateArgs = (path: string) => ['--state', path];
const bob = () => `${BOB} (uid ${testUser(BOB).uid})`;
const root = `root (uid 0)`;

async function publishRetained(client: Client, topic: string, data: unknown): Promise<void> {
  client.publish(topic, data, { retain: true });
  await client.flush();
}

/** A precious root-owned file the attacks aim at. */
function preciousFile(): string {
  const path = join(makeTempDir(0o755), 'precious');
  writeFileSync(path, 'root only', { mode: 0o600 });
  return path;
}

async function refusedAtStart(statePath: string): Promise<string> {
  const broker = spawnBroker(join(makeTempDir(), 'bus.sock'), stateArgs(statePath));
  // Promptly: a FIFO must never block the start.
  await broker.waitForExit(5_000);
  expect(broker.exitCode).toBe(1);
  return broker.stderr;
}

describe('the state file in a directory others can write', () => {
  it('refuses a world-writable directory that is not sticky, as for the socket', async () => {
    const open = makeTempDir(0o777);
    const statePath = join(open, 'state.bin');
    expect(await refusedAtStart(statePath)).toBe(
      `sockbusd: refusing to keep state in ${statePath}: ${open} is writable by anyone and not sticky, so others could replace the state file\n`,
    );
  });

  it("refuses bob's symlink at the path (sticky dir), and never writes where it points", async () => {
    const statePath = join(makeTempDir(0o1777), 'state.bin');
    const precious = preciousFile();
    runAs(BOB, 'ln', ['-s', precious, statePath]);
    expect(await refusedAtStart(statePath)).toBe(
      `sockbusd: cannot read the state file ${statePath}: it is a symbolic link; refusing to follow it (remove it yourself if it is not needed)\n`,
    );
    expect(readFileSync(precious, 'utf8')).toBe('root only');
    expect(lstatSync(statePath).isSymbolicLink()).toBe(true);
  });

  it("refuses bob's own file at the path: its values (one stamped uid 0) are not loaded", async () => {
    const statePath = join(makeTempDir(0o1777), 'state.bin');
    const forged = Buffer.concat([packer.pack('cfg.admin'), packer.pack('bob')]);
    writeFileSync(statePath, encodeState([{ topic: 'cfg.admin', topicAndData: forged, headers: packer.pack(null), sender: { uid: 0, pid: 1 } }], new Date()));
    chownSync(statePath, testUser(BOB).uid, testUser(BOB).gid);
    chmodSync(statePath, 0o666);
    expect(await refusedAtStart(statePath)).toBe(
      `sockbusd: cannot read the state file ${statePath}: it belongs to ${bob()}, not to the broker's user (${root}); refusing to trust the values in it\n`,
    );
  });

  it("refuses root's own file when others may write it (mode 0666 or 0620)", async () => {
    for (const [mode, who] of [[0o666, 'anyone'], [0o620, 'its group']] as const) {
      const statePath = join(makeTempDir(0o1777), 'state.bin');
      writeFileSync(statePath, 'x');
      chmodSync(statePath, mode);
      expect(await refusedAtStart(statePath)).toBe(
        `sockbusd: cannot read the state file ${statePath}: it is writable by ${who} (mode 0${mode.toString(8)}), so others could have changed the values in it; refusing to trust them\n`,
      );
    }
  });

  it("refuses bob's FIFO at the path promptly, instead of hanging in the read", async () => {
    const statePath = join(makeTempDir(0o1777), 'state.bin');
    runAs(BOB, 'mkfifo', ['-m', '0666', statePath]);
    expect(await refusedAtStart(statePath)).toBe(
      `sockbusd: cannot read the state file ${statePath}: it is a FIFO, not a regular file; refusing to use it (remove it yourself if it is not needed)\n`,
    );
  });

  it.each([
    ['a symlink to a root-owned file', (temporary: string, precious: string) => runAs(BOB, 'ln', ['-s', precious, temporary])],
    ['an own file of mode 0666', (temporary: string) => runAs(BOB, 'install', ['-m', '0666', '/dev/null', temporary])],
    ['a FIFO (saves would hang and SIGTERM never finish)', (temporary: string) => runAs(BOB, 'mkfifo', ['-m', '0666', temporary])],
  ])('ignores %s at the old predictable temp name: the name is random, created exclusively, mode 0600', async (_what, plant) => {
    const directory = makeTempDir(0o1777);
    const statePath = join(directory, 'state.bin');
    const precious = preciousFile();
    const broker = await startBroker({ args: stateArgs(statePath) });
    const predictable = `${statePath}.tmp-${broker.child.pid}`;
    plant(predictable, precious);
    const planted = lstatSync(predictable);

    const client = await connectClient(broker.socketPath);
    await publishRetained(client, 'cfg.secret', 'value');
    await waitFor(() => readFileSync(statePath).includes('value'), 'the value to be saved');
    const saved = lstatSync(statePath);
    expect([saved.isFile(), saved.uid, saved.mode & 0o777]).toEqual([true, 0, 0o600]);
    expect(readFileSync(precious, 'utf8')).toBe('root only');
    expect(lstatSync(predictable).ino).toBe(planted.ino);
    expect(readdirSync(directory).sort()).toEqual(['state.bin', 'state.bin.tmp-' + broker.child.pid]);

    await broker.child.kill('SIGTERM');
    expect(broker.child.exitCode).toBe(0);
  });

  it('a FIFO bob puts at the path while running (after a cleaner removed the file) is not replaced or opened, and SIGTERM completes', async () => {
    const statePath = join(makeTempDir(0o1777), 'state.bin');
    const broker = await startBroker({ args: stateArgs(statePath) });
    unlinkSync(statePath);
    runAs(BOB, 'mkfifo', ['-m', '0666', statePath]);
    const client = await connectClient(broker.socketPath);
    await publishRetained(client, 'cfg.x', 1);
    const logged =
      `sockbusd: error: could not save retained values to ${statePath}: ${statePath} is now a FIFO owned by ${bob()}, not the broker's own file; ` +
      'refusing to replace it (remove it yourself if it is not needed); will try again on the next change\n';
    await waitFor(() => broker.child.stderr.includes(logged), 'the save to be refused');
    expect(lstatSync(statePath).isFIFO()).toBe(true);
    // The broker goes on serving, retained values included.
    const late = await collect(await connectClient(broker.socketPath), 'cfg.x');
    await waitForCount(late, 1);
    await broker.child.kill('SIGTERM');
    expect(broker.child.exitCode).toBe(0);
    expect(readdirSync(join(statePath, '..'))).toEqual(['state.bin']);
  });
});
