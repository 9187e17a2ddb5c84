import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { BOB, CAROL, user } from '../users.js';
import { bytesReceived, carolClientsAgainst, impostorFailures } from './impostor-clients.js';

/** Issue 11, 3: a socket path in a sticky world-writable directory can be taken first, or retaken after. */
export const impostorBroker: Attack = {
  name: 'impostor-broker',
  title: 'bob listens on the socket path (sticky 1777 dir) before root\'s broker starts, and re-binds it as soon as root\'s broker stops',
  broker: null,
  async run(context) {
    const bob = user(BOB);
    const failures: string[] = [];
    // Before: bob is there first.
    const path = join(context.tempDir(0o1777), 'sockbus.sock');
    const fake = context.agent(BOB, 'fake-broker', { path, mode: 'answer' });
    if (!(await fake.nextEvent('listening', 10_000))) return verdictOf([`bob's impostor did not start: ${failureOf(fake)}`], {});
    const broker = await context.startBroker({ socketPath: path });
    const refusal = broker.firstLogLine;
    if (broker.started) failures.push('root\'s broker started although bob holds the path');
    else if (!refusal.includes(BOB) && !refusal.includes(`uid ${bob.uid}`)) failures.push(`root's broker refused without naming the holder ("${refusal}")`);
    const before = await carolClientsAgainst(context, fake, path);
    failures.push(...impostorFailures(before));

    // After: root's broker stops cleanly and bob takes the path a few ms later.
    const laterPath = join(context.tempDir(0o1777), 'sockbus.sock');
    const rootBroker = await context.startBroker({ socketPath: laterPath });
    if (!rootBroker.started) return verdictOf([...failures, `root's broker did not start on a free path: ${rootBroker.firstLogLine}`], { refusal, before });
    const probe = context.agent(CAROL, 'client-probe', { path: laterPath, mode: 'stay' });
    await probe.nextEvent('connected', 10_000);
    const squatter = context.agent(BOB, 'fake-broker', { path: laterPath, mode: 'answer', waitForFree: true });
    await rootBroker.stop();
    const took = await squatter.nextEvent('listening', 5000);
    // The client's backoff is capped at 2 s, and it watches the path for a new socket.
    await squatter.until(() => bytesReceived(squatter) > 0, 5000);
    probe.command('stop');
    const stayed = await probe.nextEvent('result', 5000);
    const after = { rebound: Boolean(took), bytesToImpostor: bytesReceived(squatter), client: stayed };
    if (after.bytesToImpostor > 0) failures.push(`after root's broker stopped, carol's reconnecting client sent bob ${after.bytesToImpostor} bytes`);
    if (!took) context.note('bob could not re-bind the path after the broker stopped');
    return verdictOf(failures, { refusal, before, after });
  },
};
