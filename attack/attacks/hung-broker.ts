import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { failureOf, sleep } from '../processes.js';
import { BOB, CAROL } from '../users.js';
import { acceptedCount } from './impostor-clients.js';

/** How long `sockbus pub` may take to give up on a broker that welcomed it and then went silent. */
const PUB_DEADLINE_MS = 12_000;
/** Reconnects allowed in WINDOW_MS to a broker that sends a bad frame after every welcome. */
const MAX_RECONNECTS = 50;
const WINDOW_MS = 10_000;

/** Issue 11, 13: a broker that hangs, or breaks every session, must not hang or spin its clients. */
export const hungBroker: Attack = {
  name: 'hung-broker',
  title: `bob's fake broker welcomes then never answers (carol's sockbus pub must exit within ${PUB_DEADLINE_MS / 1000} s), and one that sends a bad frame after each welcome (at most ${MAX_RECONNECTS} reconnects in ${WINDOW_MS / 1000} s)`,
  broker: null,
  async run(context) {
    const silentPath = join(context.tempDir(0o1777), 'sockbus.sock');
    const badPath = join(context.tempDir(0o1777), 'sockbus.sock');
    const silent = context.agent(BOB, 'fake-broker', { path: silentPath, mode: 'silent' });
    const bad = context.agent(BOB, 'fake-broker', { path: badPath, mode: 'bad-frame' });
    if (!(await silent.nextEvent('listening', 10_000))) return verdictOf([`bob's silent broker did not start: ${failureOf(silent)}`], {});
    if (!(await bad.nextEvent('listening', 10_000))) return verdictOf([`bob's bad-frame broker did not start: ${failureOf(bad)}`], {});

    // Both at once: the whole attack takes as long as the longer of the two.
    const began = Date.now();
    const pub = context.cli(CAROL, ['pub', 'attack.hung', '1', '--socket', silentPath]);
    const looping = context.agent(CAROL, 'client-probe', { path: badPath, mode: 'stay' });
    await sleep(WINDOW_MS);
    const reconnects = acceptedCount(bad) - 1;
    looping.command('stop');
    const exitedInTime = await pub.waitForExit(Math.max(0, PUB_DEADLINE_MS - (Date.now() - began)));
    const pubSeconds = exitedInTime ? Math.round((Date.now() - began) / 100) / 10 : null;
    const failures: string[] = [];
    if (!exitedInTime) failures.push(`sockbus pub was still running ${PUB_DEADLINE_MS / 1000} s after a silent broker welcomed it`);
    else if (pub.exitCode === 0) failures.push('sockbus pub exited 0 although the broker never confirmed the publish');
    if (reconnects > MAX_RECONNECTS) failures.push(`carol's client reconnected ${reconnects} times in ${WINDOW_MS / 1000} s to a broker that breaks every session`);
    return verdictOf(failures, { pub: { exitedInTime, seconds: pubSeconds, exitCode: pub.exitCode, stderr: pub.stderr.trim().slice(0, 300) }, reconnects });
  },
};
