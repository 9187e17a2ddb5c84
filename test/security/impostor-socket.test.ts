import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import { spawnBroker, startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { makeTempDir, type Child } from '../helpers/processes.js';
import { BOB, readableCopyOfProject, spawnAs, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

/** Bob listening on `path` with a plain net.Server, as an impostor would. */
async function impostor(path: string): Promise<Child> {
  const listener = spawnAs(BOB, readableCopyOfProject(), 'fixtures/listen.mjs', [path]);
  await waitFor(() => listener.stdout.includes('listening') || !listener.running, 'the impostor to listen');
  if (!listener.running) throw new Error(`the impostor exited: ${listener.stderr}`);
  return listener;
}

const heldBy = (path: string, holder: Child) =>
  `${path} is held by a live socket of ${BOB} (uid ${testUser(BOB).uid}, pid ${holder.pid}): another user may be impersonating the broker; ` +
  "refusing to replace it (serve from a directory only root and the broker's user can write, so no one else can take the path)";

// Issue 11: an impostor of another user listening on the socket path.
describe('the socket path held by another user', () => {
  it("refuses to start when bob listens on the path first, and says who holds it", async () => {
    const socketPath = join(makeTempDir(0o1777), 'bus.sock');
    const holder = await impostor(socketPath);
    const broker = spawnBroker(socketPath);
    await broker.waitForExit();
    expect([broker.exitCode, broker.stderr]).toEqual([1, `sockbusd: ${heldBy(socketPath, holder)}\n`]);
    expect(holder.running).toBe(true);
  });

  it('while running: bob re-binds the path after a cleaner removed it; logged once, shown in stats, cleared when he goes', async () => {
    const socketPath = join(makeTempDir(0o1777), 'bus.sock');
    const broker = await startBroker({ socketPath, args: ['--socket-check', '50'] });
    const watcher = await connectClient(socketPath, { name: 'watcher' });
    expect((await watcher.brokerStats())['socketProblem']).toBeNull();

    // A /tmp cleaner removes the socket and bob binds the path before the
    // broker's next check: the broker is paused so that order is certain.
    process.kill(broker.child.pid, 'SIGSTOP');
    unlinkSync(socketPath);
    const holder = await impostor(socketPath).finally(() => process.kill(broker.child.pid, 'SIGCONT'));
    const logged = `sockbusd: error: socket file ${socketPath} was removed or replaced and cannot be re-created: ${heldBy(socketPath, holder)}\n`;
    await waitFor(() => broker.child.stderr.includes(logged), 'the broker to say who holds the path');
    // Several checks later (each probes the impostor), still one line for the episode.
    await waitFor(() => holder.stdout.split('connection').length > 4, 'three more checks');
    expect(broker.child.stderr.split(logged).length - 1).toBe(1);
    // Connections made before keep working, and stats say what is wrong.
    expect((await watcher.brokerStats())['socketProblem']).toBe(heldBy(socketPath, holder));

    // Bob's listener dies; its socket is left stale, and the broker takes the path back.
    await holder.kill('SIGKILL');
    await waitFor(() => broker.child.stderr.includes(`socket file ${socketPath} had been removed or replaced; re-created it`), 'the path to be ours again');
    expect((await watcher.brokerStats())['socketProblem']).toBeNull();
    const client = await connect({ path: socketPath, reconnect: false });
    await client.close();
    expect(broker.child.running).toBe(true);
  });
});
