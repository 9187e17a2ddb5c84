import { execFileSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALICE, BOB, CAROL } from '../test/helpers/test-users.js';
import { setup as setupTestUsers } from '../test/setup/users.js';
import { makeTempDir, spawnTracked, type Child } from './processes.js';

export { ALICE, BOB, CAROL };

/** The project root (dist-tools/attack/ is two levels below it). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The tools' own build (tsconfig.tools.json), with the broker, CLI and library the attacks run. */
const BUILD_DIRECTORY = 'dist-tools';

/** A script of the build, by its path inside it (`cli/main.js`), in the readable copy or the project. */
export function builtScript(root: string, script: string): string {
  return join(root, BUILD_DIRECTORY, script);
}

export interface User {
  name: string;
  uid: number;
  /** The user's own group. */
  gid: number;
}

/**
 * Creates the test users when missing, with the tests' own setup, and
 * returns what removes only those it created.
 */
export function ensureUsers(): () => void {
  return setupTestUsers();
}

export function user(name: string): User {
  const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid) };
}

/**
 * Processes of other users must read the code they run, and the checkout
 * may sit under /root: they run a world-readable copy of the built code and
 * its runtime dependencies (as the tests' readableCopyOfProject does; that
 * helper hooks into vitest, so it cannot be imported outside it).
 */
export function readableCopyOfProject(): string {
  const home = makeTempDir(0o755);
  cpSync(join(PROJECT_ROOT, BUILD_DIRECTORY), join(home, BUILD_DIRECTORY), { recursive: true });
  for (const name of ['msgpackr', 'eventemitter3']) {
    cpSync(join(PROJECT_ROOT, 'node_modules', name), join(home, 'node_modules', name), { recursive: true });
  }
  writeFileSync(join(home, 'package.json'), JSON.stringify({ type: 'module' }));
  return home;
}

export interface SpawnAsOptions {
  /** Supplementary group ids; without them the process has none. */
  groups?: number[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs COMMAND as `name` through setpriv, which sets the supplementary
 * groups exactly (Node's own spawn with uid/gid would keep root's).
 */
export function spawnAs(name: string, cwd: string, command: string, args: string[], options: SpawnAsOptions = {}): Child {
  const { uid, gid } = user(name);
  const groups = options.groups?.length ? `--groups=${options.groups.join(',')}` : '--clear-groups';
  return spawnTracked('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, groups, '--', command, ...args], { cwd, env: options.env });
}

/** Runs `node dist-tools/SCRIPT ARGS` from the readable copy as `name`. */
export function nodeAs(name: string, copy: string, script: string, args: string[], options: SpawnAsOptions = {}): Child {
  return spawnAs(name, copy, process.execPath, [builtScript(copy, script), ...args], options);
}
