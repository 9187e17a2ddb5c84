import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/processes.js';
import { ALICE, readableCopyOfProject, spawnAs, TEST_GROUP, testUser } from '../helpers/users.js';

/**
 * Issue 11, "supplementary groups of any number": the broker read at most
 * 256 groups, and past that SO_PEERGROUPS failed with ERANGE and the peer was
 * served with no groups at all, so a group deny rule did not apply to a user
 * in many groups. The groups are made here and removed after.
 */
const EXTRA_GROUPS = Array.from({ length: 300 }, (_, index) => `sockbus-many-${String(index).padStart(3, '0')}`);

beforeAll(() => {
  const script = 'for name in "$@"; do getent group "$name" >/dev/null || groupadd "$name" || exit 1; done';
  execFileSync('sh', ['-c', script, 'sh', ...EXTRA_GROUPS], { stdio: ['ignore', 'ignore', 'inherit'] });
}, 120_000);

afterAll(() => {
  const script = 'for name in "$@"; do groupdel "$name" 2>/dev/null; done; true';
  execFileSync('sh', ['-c', script, 'sh', ...EXTRA_GROUPS], { stdio: 'ignore' });
}, 120_000);

describe('a peer in more than 256 supplementary groups', () => {
  it('still has its group deny rule applied: the broker reads every group the kernel reports (attack row: many groups hide a deny)', async () => {
    const directory = makeTempDir(0o755);
    const aclPath = join(directory, 'acl.json');
    writeFileSync(aclPath, JSON.stringify({ default: { publish: ['public.>'] }, groups: { [TEST_GROUP]: { denyPublish: ['public.quiet'] } } }));
    const { socketPath } = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--acl', aclPath] });
    const copy = readableCopyOfProject();
    // The team group last, past the 256 the broker used to read.
    const publisher = spawnAs(ALICE, copy, 'fixtures/publish-each.mjs', [socketPath, JSON.stringify([['public.quiet', 1], ['public.loud', 2]])], {
      groups: [...EXTRA_GROUPS, TEST_GROUP],
    });
    await publisher.waitForExit();
    expect([publisher.exitCode, publisher.stderr]).toEqual([0, '']);
    const alice = testUser(ALICE);
    expect(publisher.stdout).toBe(
      `${JSON.stringify({ code: 'ACCESS_DENIED', message: `publish on public.quiet denied to user ${ALICE} (uid ${alice.uid}) by denyPublish "public.quiet" in groups.${TEST_GROUP}` })}\n`,
    );
  }, 60_000);
});
