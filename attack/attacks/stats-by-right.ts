import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { ALICE, user } from '../users.js';

/** Issue 11, 10: who else is connected is $SYS. information, and alice may not read $SYS. */
export const statsByRight: Attack = {
  name: 'stats-by-right',
  title: 'with --acl denying alice $SYS.>, alice runs sockbus stats and sockbus clients while carol\'s pair is connected',
  broker(directory) {
    const acl = join(directory, 'acl.json');
    writeFileSync(acl, JSON.stringify({ default: { publish: ['>'], subscribe: ['>'] }, users: { [ALICE]: { denySubscribe: ['$SYS.>'] } } }));
    return ['--acl', acl];
  },
  async run(context) {
    const alice = user(ALICE).uid;
    const failures: string[] = [];
    const seen: Record<string, unknown> = {};
    for (const command of ['stats', 'clients']) {
      const child = context.cli(ALICE, [command, '--json', '--socket', context.broker!.socketPath]);
      await child.waitForExit(10_000);
      let entries: Array<{ uid?: number; name?: string }> = [];
      try {
        const parsed = JSON.parse(child.stdout) as unknown;
        entries = ((Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown[] }).clients) ?? []) as typeof entries;
      } catch {
        // No JSON: refused, which is what should happen.
      }
      const others = entries.filter((entry) => entry.uid !== alice);
      seen[command] = { exit: child.exitCode, said: child.stderr.trim().slice(0, 200), otherUsersEntries: others.map((entry) => `${entry.name} (uid ${entry.uid})`) };
      if (others.length > 0) failures.push(`sockbus ${command} showed alice ${others.length} entries of other users`);
    }
    return verdictOf(failures, seen);
  },
};
