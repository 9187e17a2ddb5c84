import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { held, notHeld, type Attack } from '../attack.js';
import { failureOf, sleep } from '../processes.js';
import { BOB } from '../users.js';

/** The start lock's name as broker/socket-file.ts derived it when this attack was written. */
function originalLockName(path: string): string {
  return `sockbus-lock-${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 40)}`;
}

/** The abstract socket names a process holds, from its descriptors and /proc/net/unix: whatever the current code derives. */
function abstractNamesOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const names: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [inode, path] = [fields[6], fields[7]];
    // The kernel shows an abstract name with a leading @, and its NUL padding as @ too.
    if (inode && inodes.has(inode) && path?.startsWith('@')) names.push(path.slice(1).replace(/@+$/, ''));
  }
  return names;
}

/** Issue 11, 4: the start lock must not let another user stop root's broker from starting. */
export const startLockSquat: Attack = {
  name: 'start-lock-squat',
  title: 'bob binds the abstract start-lock name of a socket path in a root-only directory (0711: carol may reach the socket, nobody else may write there)',
  broker: null,
  async run(context) {
    const path = join(context.tempDir(0o711), 'bus.sock');
    // Learn the name the current code uses, from a broker holding it.
    const probe = await context.startBroker({ socketPath: path });
    const current = probe.started ? abstractNamesOf(probe.pid) : [];
    await probe.stop();
    const names = [...new Set([...current, originalLockName(path)])];
    const squatter = context.agent(BOB, 'abstract-squat', { names });
    const squatted = await squatter.nextEvent('listening', 10_000);
    if (!squatted) return notHeld(`bob's squatter did not start: ${failureOf(squatter)}`);
    const details = { namesHeldByBroker: current, squatted: squatted['bound'], failed: squatted['failed'] };
    const broker = await context.startBroker({ socketPath: path });
    if (!broker.started) return notHeld(`root's broker did not start while bob holds its lock name: ${broker.firstLogLine || broker.outcome}`, details);
    // The runner judges the pair: it must be served.
    await context.startPair(path);
    await sleep(context.quick ? 1000 : 2000);
    return held(details);
  },
};
