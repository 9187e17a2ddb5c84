import { execFileSync, spawn } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Child, makeTempDir, PROJECT_ROOT, track } from './processes.js';

export { ALICE, BOB, TEST_GROUP } from './test-users.js';

export interface TestUser {
  name: string;
  uid: number;
  /** The user's own group. */
  gid: number;
}

export function testUser(name: string): TestUser {
  const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid) };
}

export function groupId(name: string): number {
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
}

/**
 * A child running as another user must read the code it runs; a checkout
 * under /root may not allow that, so it runs a copy in a world-readable
 * directory: the built code, the native addon (as an install has it; clients
 * check their broker with it), the test fixtures and the runtime dependencies.
 */
export function readableCopyOfProject(options: { addon?: boolean } = {}): string {
  const home = makeTempDir(0o755);
  cpSync(join(PROJECT_ROOT, 'dist'), join(home, 'dist'), { recursive: true });
  if (options.addon ?? true) cpSync(join(PROJECT_ROOT, 'build/Release/sockbus_native.node'), join(home, 'build/Release/sockbus_native.node'));
  cpSync(join(PROJECT_ROOT, 'test/fixtures'), join(home, 'fixtures'), { recursive: true });
  for (const name of ['msgpackr', 'eventemitter3']) {
    cpSync(join(PROJECT_ROOT, 'node_modules', name), join(home, 'node_modules', name), { recursive: true });
  }
  writeFileSync(join(home, 'package.json'), JSON.stringify({ type: 'module' }));
  return home;
}

export interface RunAsOptions {
  /** Supplementary groups, by name; without them the process has only the user's own group. */
  groups?: string[];
  /** The process's group instead of the user's own, by name. */
  group?: string;
}

/**
 * Runs `node SCRIPT ARGS` from a readable copy as `user`, through setpriv so
 * supplementary groups are set exactly (Node's own spawn drops them).
 */
export function spawnAs(user: string, copy: string, script: string, args: string[], options: RunAsOptions = {}): Child {
  const { uid, gid } = testUser(user);
  const processGid = options.group === undefined ? gid : groupId(options.group);
  const groups = options.groups?.length ? options.groups.map(groupId).join(',') : '';
  const privileges = [`--reuid=${uid}`, `--regid=${processGid}`, groups ? `--groups=${groups}` : '--clear-groups'];
  const child = spawn('setpriv', [...privileges, '--', process.execPath, join(copy, script), ...args], {
    cwd: copy,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return track(new Child(child));
}

/** Runs the sockbus CLI from a readable copy as `user`, to completion unless told not to wait. */
export function cliAs(user: string, copy: string, args: string[], options: RunAsOptions = {}): Child {
  const child = spawnAs(user, copy, 'dist/cli/main.js', args, options);
  child.process.stdin!.end();
  return child;
}
