import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/free-port.js';
import { skipped, verdictOf, type Attack } from '../attack.js';
import { failureOf, pollUntil, spawnTracked } from '../processes.js';
import { ALICE, CAROL } from '../users.js';

function natsServerInstalled(): boolean {
  try {
    execFileSync('which', ['nats-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Issue 11, 9: what comes in over the bridge is still subject to the policy, and is not the broker speaking. */
export const bridgeImport: Attack = {
  name: 'bridge-import',
  title: 'alice publishes through an unauthenticated local nats-server the broker imports from, on a subject the --acl denies her',
  broker: null,
  async run(context) {
    if (!natsServerInstalled()) return skipped('nats-server not installed');
    const port = await freePort();
    const nats = spawnTracked('nats-server', ['-a', '127.0.0.1', '-p', String(port)]);
    const up = await pollUntil(
      () => new Promise<boolean>((resolve) => net.connect({ host: '127.0.0.1', port }).once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false))),
      10_000,
    );
    if (!up) return verdictOf([`nats-server did not start: ${failureOf(nats)}`], {});
    const acl = join(context.directory, 'acl.json');
    const policy = {
      // The broker's own user (the bridge) may publish what it imports, as the README says to set it up.
      uids: { '0': { publish: ['bridged.>'], subscribe: ['bridged.>'] } },
      users: { [CAROL]: { publish: ['>'], subscribe: ['>'] }, [ALICE]: { publish: ['bridged.public.>'], subscribe: ['bridged.public.>'] } },
    };
    writeFileSync(acl, JSON.stringify(policy));
    const socketPath = join(context.tempDir(0o755), 'bus.sock');
    const broker = await context.startBroker({ socketPath, args: ['--acl', acl, '--bridge', `nats://127.0.0.1:${port}`, '--import', 'bridged.>'] });
    if (!broker.started) return verdictOf([`the broker did not start with the bridge: ${broker.firstLogLine}`], {});
    await broker.child.until(() => broker.log.includes('bridge: connected'), 10_000);
    const watcher = context.agent(CAROL, 'counting-subscriber', { path: socketPath, pattern: 'bridged.>' });
    if (!(await watcher.nextEvent('ready', 10_000))) return verdictOf([`carol's subscriber did not start: ${failureOf(watcher)}`], {});
    const alice = context.agent(ALICE, 'nats-publisher', { port, subjects: ['bridged.secret.launch', 'bridged.public.hello'] });
    const published = await alice.nextEvent('result', 10_000);
    // The bridge delivers asynchronously; a moment for it to pass (or not) what alice sent.
    await pollUntil(() => false, 1000);
    watcher.command('report');
    const seen = await watcher.nextEvent('result', 5000);
    const topics = (seen?.['topics'] as string[]) ?? [];
    const senders = (seen?.['senders'] as string[]) ?? [];
    const failures: string[] = [];
    if (topics.includes('bridged.secret.launch')) failures.push('alice\'s publish on a subject the policy denies her reached carol through the bridge');
    if (senders.includes(`0:${broker.pid}`)) failures.push(`bridged messages were stamped with the broker's own sender [0, ${broker.pid}]`);
    return verdictOf(failures, { published, delivered: topics, senders });
  },
};
