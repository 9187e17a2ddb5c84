import { chownSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import { spawnBroker, startBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/processes.js';
import { BOB, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { runAs } from './run-as.js';

async function expectServing(socketPath: string): Promise<void> {
  const client = await connect({ path: socketPath, reconnect: false });
  await client.flush();
  await client.close();
}

// Issue 11: a symbolic link above the socket path, owned by another user in
// a sticky directory like /tmp, could be re-pointed after the broker's
// checks (which followed it), and clients would then reach an impostor.
describe('symbolic links above the socket path', () => {
  const bob = () => `${BOB} (uid ${testUser(BOB).uid})`;
  const refusal = (socketPath: string, link: string) =>
    `sockbusd: refusing to serve on ${socketPath}: ${link} is a symbolic link owned by ${bob()}, another user, who could re-point it at a directory of their own\n`;

  it("refuses a link another user owns (bob's link in a sticky dir), naming the link and its owner", async () => {
    const shared = makeTempDir(0o1777);
    const link = join(shared, 'bus-dir');
    runAs(BOB, 'ln', ['-s', makeTempDir(0o755), link]);
    const socketPath = join(link, 'bus.sock');
    const broker = spawnBroker(socketPath);
    await broker.waitForExit();
    expect([broker.exitCode, broker.stderr]).toEqual([1, refusal(socketPath, link)]);
  });

  it('follows a link root owns, and checks where it leads the same way', async () => {
    const shared = makeTempDir(0o1777);
    symlinkSync(makeTempDir(0o755), join(shared, 'bus-dir'));
    const { socketPath } = await startBroker({ socketPath: join(shared, 'bus-dir', 'bus.sock') });
    await expectServing(socketPath);

    // Root's own link into a directory bob owns is refused at that directory.
    const bobs = join(makeTempDir(0o755), 'bobs');
    mkdirSync(bobs);
    chownSync(bobs, testUser(BOB).uid, testUser(BOB).gid);
    symlinkSync(bobs, join(shared, 'into-bobs'));
    const intoBobs = join(shared, 'into-bobs', 'bus.sock');
    const refused = spawnBroker(intoBobs);
    await refused.waitForExit();
    expect([refused.exitCode, refused.stderr]).toEqual([
      1,
      `sockbusd: refusing to serve on ${intoBobs}: ${bobs} belongs to uid ${testUser(BOB).uid}, another user, who could replace the socket\n`,
    ]);
    // And a link to a link bob owns is caught at bob's link.
    const bobsLink = join(shared, 'bobs-link');
    runAs(BOB, 'ln', ['-s', makeTempDir(0o755), bobsLink]);
    symlinkSync(bobsLink, join(shared, 'chain'));
    const chained = join(shared, 'chain', 'bus.sock');
    const caught = spawnBroker(chained);
    await caught.waitForExit();
    expect([caught.exitCode, caught.stderr]).toEqual([1, refusal(chained, bobsLink)]);
  });

  it('re-checks the links while running: a socket removed from under a re-pointed link is not re-created there', async () => {
    const shared = makeTempDir(0o1777);
    const link = join(shared, 'bus-dir');
    const served = makeTempDir(0o755);
    symlinkSync(served, link);
    const socketPath = join(link, 'bus.sock');
    const broker = await startBroker({ socketPath, args: ['--socket-check', '50'] });
    // A /tmp cleaner removes the socket and root's link; bob puts his own link
    // in its place. The broker is paused meanwhile, so its checks see only the end.
    const bobsDir = makeTempDir(0o755);
    chownSync(bobsDir, testUser(BOB).uid, testUser(BOB).gid);
    process.kill(broker.child.pid, 'SIGSTOP');
    try {
      unlinkSync(join(served, 'bus.sock'));
      unlinkSync(link);
      runAs(BOB, 'ln', ['-s', bobsDir, link]);
    } finally {
      process.kill(broker.child.pid, 'SIGCONT');
    }
    const logged = `sockbusd: error: socket file ${socketPath} was removed or replaced and cannot be re-created: ${refusal(socketPath, link).slice('sockbusd: '.length)}`;
    await waitFor(() => broker.child.stderr.includes(logged), 'the broker to refuse the re-pointed link');
    expect(broker.child.stderr.split(logged).length - 1).toBe(1); // once, not every check
    expect(broker.child.running).toBe(true);
    // Bob's link is gone again, root's is back: the broker serves once more.
    unlinkSync(link);
    symlinkSync(served, link);
    await waitFor(() => broker.child.stderr.includes(`socket file ${socketPath} had been removed or replaced; re-created it`), 'the socket to be re-created');
    await expectServing(socketPath);
  });
});
