import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE, CAROL, user } from '../users.js';

const REQUESTS = 60;

/** Issue 11, 2: a reply address is not a capability anyone who can guess it may use. */
export const forgedReplies: Attack = {
  name: 'forged-replies',
  title: `alice, with no rights on svc.>, answers carol's ${REQUESTS} pending svc.time requests by guessing reply addresses`,
  broker(directory) {
    const acl = join(directory, 'acl.json');
    const policy = {
      users: {
        [CAROL]: { publish: ['>'], subscribe: ['>'] },
        [ALICE]: { publish: ['alice.>'], subscribe: ['alice.>'] },
      },
    };
    writeFileSync(acl, JSON.stringify(policy));
    return ['--acl', acl];
  },
  async run(context) {
    const path = context.broker!.socketPath;
    const topic = 'svc.time';
    const responder = context.agent(CAROL, 'responder', { path, topic, delayMs: 300 });
    const requester = context.agent(CAROL, 'requester', { path, topic, count: REQUESTS, spacingMs: 20, timeoutMs: 4000 });
    if (!(await responder.nextEvent('ready', 10_000))) return verdictOf([`carol's responder did not start: ${failureOf(responder)}`], {});
    if (!(await requester.nextEvent('ready', 10_000))) return verdictOf([`carol's requester did not start: ${failureOf(requester)}`], {});
    const forger = context.agent(ALICE, 'reply-forger', {
      path,
      ownTopic: 'alice.own',
      connectionsBelow: 30,
      connectionsAbove: 5,
      maxRequestId: REQUESTS + 20,
      durationMs: REQUESTS * 20 + 4000,
    });
    const learned = await forger.nextEvent('learned', 10_000);
    requester.command('go');
    const outcome = await requester.nextEvent('result', REQUESTS * 20 + 15_000);
    const forgery = await forger.nextEvent('result', 10_000);
    const details = { learned, requester: outcome, forger: forgery };
    if (!outcome) return verdictOf([`carol's requester did not report: ${failureOf(requester)}`], details);
    const failures: string[] = [];
    const forged = Number(outcome['forgedData']) + Number(outcome['forgedErrors']);
    if (forged > 0) failures.push(`${forged} of ${REQUESTS} requests got a forged answer (${outcome['forgedData']} data, ${outcome['forgedErrors']} errors)`);
    const carol = user(CAROL).uid;
    const strangers = (outcome['senderUids'] as number[]).filter((uid) => uid !== carol);
    if (strangers.length > 0) failures.push(`replies stamped with uid ${strangers.join(', ')}, not carol's responder`);
    if (!learned) context.note('alice could not learn a reply address');
    if (Number(outcome['withoutSender']) > 0) context.note('replies carry no sender yet');
    return verdictOf(failures, details);
  },
};
