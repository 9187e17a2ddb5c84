import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE, CAROL } from '../users.js';

const DENIED_GROUP = 'sockbus-atk-denied';
/** More than the 256 groups the credentials addon reads today. */
const GROUP_COUNT = 300;
/** Whether this run made the denied group, so only then is it removed. */
let createdGroup = false;

/** Gids no group of the system uses, for alice's extra groups: the kernel needs no database entry for them. */
function unusedGids(count: number): number[] {
  const used = new Set(execFileSync('getent', ['group'], { encoding: 'utf8' }).split('\n').map((line) => Number(line.split(':')[2])));
  const gids: number[] = [];
  for (let gid = 61_000; gids.length < count; gid++) if (!used.has(gid)) gids.push(gid);
  return gids;
}

function groupId(name: string): number | null {
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    return null;
  }
}

/** Issue 11, 7: a deny on a group must hold however many groups the peer is in. */
export const manyGroups: Attack = {
  name: 'many-groups',
  title: `alice in ${GROUP_COUNT} supplementary groups, the last one denied guarded.> by the --acl, publishes there`,
  broker(directory) {
    // Only the denied group needs a name, for the policy; created here, removed by cleanup().
    if (groupId(DENIED_GROUP) === null) {
      execFileSync('groupadd', ['--system', DENIED_GROUP]);
      createdGroup = true;
    }
    const acl = join(directory, 'acl.json');
    writeFileSync(acl, JSON.stringify({ default: { publish: ['>'], subscribe: ['>'] }, groups: { [DENIED_GROUP]: { denyPublish: ['guarded.>'] } } }));
    return ['--acl', acl];
  },
  async run(context) {
    {
      const path = context.broker!.socketPath;
      const denied = groupId(DENIED_GROUP)!;
      const groups = [...unusedGids(GROUP_COUNT - 1), denied];
      const watcher = context.agent(CAROL, 'counting-subscriber', { path, pattern: 'guarded.>' });
      if (!(await watcher.nextEvent('ready', 10_000))) return verdictOf([`carol's subscriber did not start: ${failureOf(watcher)}`], {});
      const publish = context.cli(ALICE, ['pub', 'guarded.door', '"open"', '--count', '5', '--socket', path], { groups });
      await publish.waitForExit(10_000);
      watcher.command('report');
      const seen = await watcher.nextEvent('result', 5000);
      const delivered = Number(seen?.['received'] ?? 0);
      const said = publish.stderr.trim();
      const refused = /TOO_MANY|refus/i.test(said) && delivered === 0;
      const deniedByRule = said.includes('ACCESS_DENIED') && delivered === 0;
      const failures = refused || deniedByRule ? [] : [`alice's publishes reached carol (${delivered} of 5): the deny on her ${GROUP_COUNT}th group did not apply`];
      return verdictOf(failures, { groups: groups.length, delivered, aliceSaid: said.slice(0, 300), exit: publish.exitCode });
    }
  },
  cleanup() {
    if (createdGroup) execFileSync('groupdel', [DENIED_GROUP]);
    createdGroup = false;
  },
};
