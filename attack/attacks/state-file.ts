import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack, type AttackContext } from '../attack.js';
import { pollUntil } from '../processes.js';
import { ALICE, CAROL } from '../users.js';

const ORIGINAL = 'root-owned file: the broker must never write here\n';
const SECRET = 'TOPSECRET-retained-value';
/** How long a broker may take to start or refuse, and to finish after SIGTERM, before it counts as hung. */
const DEADLINE_MS = 5000;

type Operations = Array<Record<string, unknown>>;

interface Plant {
  /** Before root's broker starts. */
  before(state: string, target: string): Operations;
  /** Once it runs: its pid is public, so a temp name can be planted again after each save renames it away. */
  after?(state: string, target: string, brokerPid: number): Operations;
}

/** Names a broker might write its temporary file under, for the pids it is likely to get. */
function temporaryNames(state: string): string[] {
  // The last field of /proc/loadavg is the pid the kernel handed out last.
  const lastPid = Number(readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/)[4]);
  const names = [`${state}.tmp`, `${state}.new`, `${state}~`];
  for (let pid = lastPid + 1; pid <= lastPid + 400; pid++) names.push(`${state}.tmp-${pid}`);
  return names;
}

/** What alice leaves in the sticky directory before root's broker starts, one sub-case each. */
const CASES: Record<string, Plant> = {
  'symlink at the path': { before: (state, target) => [{ op: 'symlink', target, path: state }] },
  'her file at the path': { before: (state) => [{ op: 'write', path: state, data: 'alice was here', mode: 0o666 }] },
  'FIFO at the path': { before: (state) => [{ op: 'mkfifo', path: state }] },
  'symlinks at temp names': {
    before: (state, target) => temporaryNames(state).map((path) => ({ op: 'symlink', target, path })),
    after: (state, target, pid) => [{ op: 'symlink', target, path: `${state}.tmp-${pid}` }],
  },
  'her files at temp names': {
    before: (state) => temporaryNames(state).map((path) => ({ op: 'write', path, data: '', mode: 0o666 })),
    after: (state, _target, pid) => [{ op: 'write', path: `${state}.tmp-${pid}`, data: '', mode: 0o666 }],
  },
};

/** Issue 11, 5: a --state file in a directory others can write to. */
export const stateFile: Attack = {
  name: 'state-file',
  title: `--state in a sticky 1777 directory where alice planted, in turn: ${Object.keys(CASES).join(', ')}`,
  broker: null,
  async run(context) {
    const acl = join(context.directory, 'acl.json');
    writeFileSync(acl, JSON.stringify({ users: { [CAROL]: { publish: ['>'], subscribe: ['>'] }, [ALICE]: { publish: ['alice.>'], subscribe: ['alice.>'] } } }));
    const failures: string[] = [];
    const cases: Record<string, unknown> = {};
    for (const [name, plant] of Object.entries(CASES)) {
      const outcome = await runCase(context, acl, plant);
      cases[name] = outcome;
      for (const failure of outcome.failures) failures.push(`${name}: ${failure}`);
    }
    return verdictOf(failures, cases);
  },
};

async function runCase(context: AttackContext, acl: string, plant: Plant) {
  const directory = context.tempDir(0o1777);
  const state = join(directory, 'state');
  const target = join(context.tempDir(0o755), 'target');
  writeFileSync(target, ORIGINAL, { mode: 0o644 });
  const planter = context.agent(ALICE, 'fs-ops', { ops: plant.before(state, target) });
  const planted = ((await planter.nextEvent('result', 10_000))?.['results'] as Array<{ ok: boolean; path: string }>) ?? [];
  const broker = await context.startBroker({ socketPath: join(context.tempDir(0o755), 'bus.sock'), args: ['--state', state, '--acl', acl], startTimeoutMs: DEADLINE_MS });
  const failures: string[] = [];
  let alice: unknown = null;
  const guessed = planted.some((entry) => entry.ok && entry.path === `${state}.tmp-${broker.pid}`);
  if (broker.outcome === 'hung') failures.push(`the broker neither started nor refused within ${DEADLINE_MS / 1000} s`);
  if (broker.started) {
    if (plant.after) await context.agent(ALICE, 'fs-ops', { ops: plant.after(state, target, broker.pid) }).nextEvent('result', 10_000);
    const pub = context.cli(CAROL, ['pub', 'secret.key', JSON.stringify(SECRET), '--retain', '--socket', broker.socketPath]);
    await pub.waitForExit(8000);
    // The save is asynchronous: give it a moment to reach the disk.
    const saved = await pollUntil(() => fileHas(state, SECRET), 2000);
    const probe = context.agent(ALICE, 'fs-ops', {
      ops: [{ op: 'read', path: state, find: SECRET }, { op: 'openWrite', path: state }, { op: 'scan', path: directory, find: SECRET }],
    });
    const probed = await probe.nextEvent('result', 10_000);
    const results = (probed?.['results'] as Array<{ op: string; path: string; ok: boolean; found?: boolean | string[] }>) ?? [];
    const leaked = [
      ...new Set(results.flatMap((result) => (result.found === true ? [result.path] : Array.isArray(result.found) ? result.found : []))),
    ];
    if (leaked.length) failures.push(`alice read the hidden retained value from ${leaked.slice(0, 3).join(', ')}${leaked.length > 3 ? ', ...' : ''}`);
    if (results.some((result) => result.op === 'openWrite' && result.ok)) failures.push('alice can write the state file');
    alice = { leaked, canWrite: results.some((result) => result.op === 'openWrite' && result.ok), saved, pubExit: pub.exitCode, pubSaid: pub.stderr.trim() };
  }
  const stopped = await broker.stop(DEADLINE_MS);
  if (!stopped) failures.push(`SIGTERM did not end the broker within ${DEADLINE_MS / 1000} s`);
  if (readFileSync(target, 'utf8') !== ORIGINAL) failures.push('the root-owned target was overwritten');
  return { outcome: broker.outcome, said: broker.firstLogLine, planted: planted.filter((entry) => entry.ok).length, guessedPid: guessed, alice, failures };
}

function fileHas(path: string, text: string): boolean {
  try {
    return statSync(path).isFile() && readFileSync(path).includes(text);
  } catch {
    return false;
  }
}
