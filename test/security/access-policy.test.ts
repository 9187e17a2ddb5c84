import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Client, Message } from '../../client/index.js';
import { spawnBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/processes.js';
import { ALICE, BOB, cliAs, readableCopyOfProject, spawnAs, TEST_GROUP, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

const alice = () => testUser(ALICE);
const bob = () => testUser(BOB);
const who = (user: { name: string; uid: number }) => `user ${user.name} (uid ${user.uid})`;

/** The policy most tests use: something for everyone, for alice by name, for the team group, for bob by uid, and root by uid 0. */
function basePolicy(): object {
  return {
    default: { publish: ['public.>'], subscribe: ['public.>'] },
    users: { [ALICE]: { publish: ['system.>'] } },
    groups: { [TEST_GROUP]: { subscribe: ['team.>'], denyPublish: ['public.quiet'] } },
    uids: { [bob().uid]: { publish: ['bob.>'], denySubscribe: ['public.secret.>'] }, 0: { publish: ['>'], subscribe: ['>'] } },
  };
}

async function brokerWithPolicy(policy: object, args: string[] = []) {
  const directory = makeTempDir(0o755);
  const aclPath = join(directory, 'acl.json');
  writeFileSync(aclPath, JSON.stringify(policy));
  const broker = await startBroker({ socketPath: join(directory, 'bus.sock'), args: ['--acl', aclPath, ...args] });
  return { ...broker, aclPath, copy: readableCopyOfProject() };
}

/** Publishes each pair on one connection as `user`; resolves with the errors the broker answered. */
async function publishAs(user: string, copy: string, socketPath: string, pairs: Array<[string, unknown]>, groups?: string[]) {
  const child = spawnAs(user, copy, 'fixtures/publish-each.mjs', [socketPath, JSON.stringify(pairs)], { groups });
  await child.waitForExit();
  expect(child.stderr).toBe('');
  return child.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { code: string; message: string });
}

/** Publishes a sentinel and waits for it: everything published before it has been routed. */
async function settle(client: Client, inbox: Message[], topic = 'public.sentinel'): Promise<void> {
  client.publish(topic, null);
  await waitFor(() => inbox.some((message) => message.topic === topic), 'the sentinel');
}

describe('access policy (--acl)', () => {
  it('lets alice publish where bob may not, and tells bob exactly why; bob\'s connection stays usable', async () => {
    const { socketPath, copy } = await brokerWithPolicy(basePolicy());
    const root = await connectClient(socketPath);
    const inbox = await collect(root, '>');

    const alicePub = cliAs(ALICE, copy, ['pub', 'system.shutdown', '"now"', '--socket', socketPath]);
    await alicePub.waitForExit();
    expect([alicePub.exitCode, alicePub.stderr]).toEqual([0, '']);
    const bobPub = cliAs(BOB, copy, ['pub', 'system.shutdown', '"now"', '--socket', socketPath]);
    await bobPub.waitForExit();
    const denial = `publish on system.shutdown is not allowed for ${who(bob())}: no publish pattern in default, uids.${bob().uid} matches it`;
    expect([bobPub.exitCode, bobPub.stderr]).toEqual([1, `sockbus: ACCESS_DENIED: ${denial}\n`]);

    expect(await publishAs(BOB, copy, socketPath, [['system.shutdown', 'again'], ['bob.status', 'fine'], ['public.hello', 'hi']])).toEqual([
      { code: 'ACCESS_DENIED', message: denial },
    ]);
    await settle(root, inbox);
    expect(inbox.map((message) => [message.topic, message.sender?.uid])).toEqual([
      ['system.shutdown', alice().uid],
      ['bob.status', bob().uid],
      ['public.hello', bob().uid],
      ['public.sentinel', 0],
    ]);
    const stats = await root.brokerStats();
    expect(stats['denied']).toBe(2);
  });

  it('grants by group from the kernel\'s view of the process, so dropping the group drops the grant', async () => {
    const { socketPath, copy } = await brokerWithPolicy(basePolicy());
    const root = await connectClient(socketPath);
    const member = cliAs(ALICE, copy, ['sub', 'team.>', '--count', '1', '--socket', socketPath], { groups: [TEST_GROUP] });
    await waitForSubscriptions(socketPath, 1);
    root.publish('team.news', 'standup at 10');
    await member.waitForExit();
    expect([member.exitCode, member.stdout]).toEqual([0, '{"topic":"team.news","data":"standup at 10","headers":{}}\n']);

    // Bob is not in the group; alice, started without it, is not in it either as far as the kernel knows.
    for (const [user, sources] of [[bob(), `default, uids.${bob().uid}`], [alice(), `default, users.${ALICE}`]] as const) {
      const outsider = cliAs(user.name, copy, ['sub', 'team.>', '--socket', socketPath]);
      await outsider.waitForExit();
      expect([outsider.exitCode, outsider.stderr]).toEqual([
        1,
        `sockbus: ACCESS_DENIED: subscribe to team.> is not allowed for ${who(user)}: no subscribe pattern in ${sources} covers it\n`,
      ]);
    }
  });

  it('lets a deny win over an allow, and withholds denied topics from a wider subscription', async () => {
    const { socketPath, copy } = await brokerWithPolicy(basePolicy());
    const root = await connectClient(socketPath);
    const inbox = await collect(root, 'public.>');
    expect(await publishAs(ALICE, copy, socketPath, [['public.quiet', 1], ['public.loud', 2]], [TEST_GROUP])).toEqual([
      { code: 'ACCESS_DENIED', message: `publish on public.quiet denied to ${who(alice())} by denyPublish "public.quiet" in groups.${TEST_GROUP}` },
    ]);

    const bobWide = cliAs(BOB, copy, ['sub', 'public.>', '--count', '1', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 2);
    root.publish('public.secret.plan', 'hidden');
    root.publish('public.news', 'visible');
    await bobWide.waitForExit();
    expect(bobWide.stdout).toBe('{"topic":"public.news","data":"visible","headers":{}}\n');

    const bobSecret = cliAs(BOB, copy, ['sub', 'public.secret.>', '--socket', socketPath]);
    await bobSecret.waitForExit();
    expect(bobSecret.stderr).toBe(
      `sockbus: ACCESS_DENIED: subscribe to public.secret.> denied to ${who(bob())} by denySubscribe "public.secret.>" in uids.${bob().uid}\n`,
    );
    await settle(root, inbox);
    expect(inbox.map((message) => message.topic)).toEqual(['public.loud', 'public.secret.plan', 'public.news', 'public.sentinel']);
  });

  it('reloads on SIGHUP without dropping connections, ends subscriptions it no longer allows, and keeps the old policy when the new file is broken', async () => {
    const broker = await brokerWithPolicy(basePolicy());
    const { socketPath, copy, aclPath } = broker;
    const root = await connectClient(socketPath);
    const bobSub = cliAs(BOB, copy, ['sub', 'public.>', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    expect(await publishAs(BOB, copy, socketPath, [['system.reboot', 1]])).toHaveLength(1);

    const reloaded = {
      ...basePolicy(),
      default: { publish: ['public.>'] },
      uids: { [bob().uid]: { publish: ['system.>'] }, 0: { publish: ['>'], subscribe: ['>'] } },
    };
    writeFileSync(aclPath, JSON.stringify(reloaded));
    broker.child.process.kill('SIGHUP');
    await bobSub.waitForExit();
    expect([bobSub.exitCode, bobSub.stderr]).toEqual([
      1,
      `sockbus: ACCESS_DENIED: subscribe to public.> is not allowed for ${who(bob())}: no subscribe pattern in default, uids.${bob().uid} covers it (the reloaded policy ended this subscription)\n`,
    ]);
    expect(broker.child.stderr).toContain(`reloaded the access policy from ${aclPath}; 1 subscription(s) it no longer allows were ended`);
    expect(await publishAs(BOB, copy, socketPath, [['system.reboot', 2]])).toEqual([]);

    writeFileSync(aclPath, '{"default": {"publish": ["public.>"],');
    broker.child.process.kill('SIGHUP');
    await waitFor(() => broker.child.stderr.includes('keeping the policy in force'), 'the broken policy to be reported');
    expect(broker.child.stderr).toMatch(new RegExp(`sockbusd: error: the access policy ${aclPath} is invalid: not valid JSON: .+; keeping the policy in force`));
    expect(await publishAs(BOB, copy, socketPath, [['system.reboot', 3]])).toEqual([]);
    // Two reloads, and the connection that was there all along never dropped.
    expect([root.state, root.counters.reconnects]).toEqual(['connected', 0]);
  });

  it('treats $SYS. like any topic under a policy: root may read it by the built-in rule unless denied, others only when granted', async () => {
    const granted = await brokerWithPolicy({ uids: { [bob().uid]: { subscribe: ['$SYS.client.>'] } } });
    const bobPresence = cliAs(BOB, granted.copy, ['sub', '$SYS.client.>', '--socket', granted.socketPath]);
    await waitForSubscriptions(granted.socketPath, 1);
    await (await connectClient(granted.socketPath, { name: 'newcomer' })).flush();
    await waitFor(() => bobPresence.stdout.includes('newcomer'), 'bob to see the newcomer arrive');
    const arrival = bobPresence.stdout.split('\n').find((line) => line.includes('newcomer'))!;
    expect(JSON.parse(arrival)).toMatchObject({ topic: '$SYS.client.connected', data: { name: 'newcomer', uid: 0 } });
    const rootSys = (await collect(await connectClient(granted.socketPath), '$SYS.>')) as Message<{ name: string }>[];
    await connectClient(granted.socketPath, { name: 'second' });
    await waitFor(() => rootSys.some((event) => event.data.name === 'second'), 'root to read $SYS. by the built-in rule');

    const denied = await brokerWithPolicy({ uids: { 0: { denySubscribe: ['$SYS.>'] } } });
    const root = await connectClient(denied.socketPath);
    const refusal = new Promise<Error>((resolve) => root.once('error', resolve));
    root.subscribe('$SYS.>');
    expect((await refusal).message).toBe('subscribe to $SYS.> denied to user root (uid 0) by denySubscribe "$SYS.>" in uids.0');
  });

  it('refuses to start on a policy it cannot use, naming the problem and where it is', async () => {
    const cases: Array<[object | string, string]> = [
      [{ users: { 'no-such-user-here': { publish: ['>'] } } }, 'users.no-such-user-here: no such user on this system'],
      [{ default: { publish: ['a..b'] } }, 'default.publish[0]: invalid pattern "a..b": empty token (two dots in a row, or a dot at either end)'],
      [{ default: { pubish: ['a'] } }, 'default: unknown key "pubish" (expected publish, subscribe, denyPublish, denySubscribe, queues)'],
      ['[1, 2', 'not valid JSON: '],
    ];
    for (const [policy, problem] of cases) {
      const directory = makeTempDir();
      const aclPath = join(directory, 'acl.json');
      writeFileSync(aclPath, typeof policy === 'string' ? policy : JSON.stringify(policy));
      const broker = spawnBroker(join(directory, 'bus.sock'), ['--acl', aclPath]);
      await broker.waitForExit();
      expect(broker.exitCode).toBe(1);
      expect(broker.stderr).toContain(`sockbusd: the access policy ${aclPath} is invalid: ${problem}`);
    }
  });
});
