import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE, CAROL } from '../users.js';

const JOBS = 1000;

/** Issue 11, 8: joining a queue group takes a share of its work, so the group is a right of its own. */
export const queueHijack: Attack = {
  name: 'queue-hijack',
  title: `carol's two workers share jobs.> in queue group workers ("queues": ["workers"] in carol's policy entry only); alice joins the group while carol publishes ${JOBS} jobs`,
  broker(directory) {
    const acl = join(directory, 'acl.json');
    const policy = {
      users: {
        [CAROL]: { publish: ['>'], subscribe: ['>'], queues: ['workers'] },
        // Alice may read jobs.>: only the queue group is not hers.
        [ALICE]: { publish: ['alice.>'], subscribe: ['jobs.>'] },
      },
    };
    writeFileSync(acl, JSON.stringify(policy));
    return ['--acl', acl];
  },
  async run(context) {
    const path = context.broker!.socketPath;
    const workers = [1, 2].map((n) => context.agent(CAROL, 'counting-subscriber', { path, pattern: 'jobs.>', queue: 'workers', name: `worker-${n}` }));
    const thief = context.agent(ALICE, 'counting-subscriber', { path, pattern: 'jobs.>', queue: 'workers', name: 'alice-worker' });
    for (const agent of [...workers, thief]) {
      if (!(await agent.nextEvent('ready', 10_000))) return verdictOf([`a worker did not start: ${failureOf(agent)}`], {});
    }
    const publisher = context.cli(CAROL, ['pub', 'jobs.build', '{"job":true}', '--count', String(JOBS), '--socket', path]);
    await publisher.waitForExit(20_000);
    const counts = [];
    for (const agent of [...workers, thief]) {
      agent.command('report');
      counts.push(await agent.nextEvent('result', 10_000));
    }
    const [first, second, stolen] = counts;
    const taken = Number(stolen?.['received'] ?? 0);
    const errors = (stolen?.['errors'] as string[]) ?? [];
    const failures: string[] = [];
    if (!errors.some((error) => error.startsWith('ACCESS_DENIED'))) failures.push('alice got no ACCESS_DENIED for joining workers');
    if (taken > 0) failures.push(`alice took ${taken} of ${JOBS} jobs`);
    return verdictOf(failures, { carol: [first?.['received'], second?.['received']], alice: { taken, errors }, publisher: publisher.exitCode });
  },
};
