import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { held, verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { BOB } from '../users.js';
import { carolClientsAgainst, impostorFailures } from './impostor-clients.js';

/** Issue 11, 6: a socket path through a symlink someone else owns can be re-pointed after the checks. */
export const symlinkedParent: Attack = {
  name: 'symlinked-parent',
  title: 'bob owns DIR/link -> DIR/real (root\'s directory, in a sticky dir), the broker serves DIR/link/bus.sock, then bob re-points the link to his own socket',
  broker: null,
  async run(context) {
    const directory = context.tempDir(0o1777);
    const real = join(directory, 'real');
    mkdirSync(real, { mode: 0o755 });
    const link = join(directory, 'link');
    const made = await context.agent(BOB, 'fs-ops', { ops: [{ op: 'symlink', target: real, path: link }] }).nextEvent('result', 10_000);
    const path = join(link, 'bus.sock');
    const broker = await context.startBroker({ socketPath: path });
    if (!broker.started) return held({ refused: broker.firstLogLine, link: made });
    // Bob's own directory and impostor, then the link swapped in one rename.
    const evil = join(directory, 'evil');
    await context.agent(BOB, 'fs-ops', { ops: [{ op: 'mkdir', path: evil, mode: 0o755 }] }).nextEvent('result', 10_000);
    const fake = context.agent(BOB, 'fake-broker', { path: join(evil, 'bus.sock'), mode: 'answer' });
    if (!(await fake.nextEvent('listening', 10_000))) return verdictOf([`bob's impostor did not start: ${failureOf(fake)}`], {});
    const swapped = await context
      .agent(BOB, 'fs-ops', { ops: [{ op: 'symlink', target: evil, path: `${link}.new` }, { op: 'rename', from: `${link}.new`, to: link }] })
      .nextEvent('result', 10_000);
    const outcomes = await carolClientsAgainst(context, fake, path);
    const failures = impostorFailures(outcomes).map((failure) => `after the re-point, ${failure}`);
    return verdictOf(['root\'s broker accepted a socket path through bob\'s symlink', ...failures], { swapped, outcomes });
  },
};
