import { execFileSync } from 'node:child_process';
import { TEST_GROUP, TEST_USERS } from '../helpers/test-users.js';

/**
 * Creates the unprivileged users and the group the access tests run
 * clients as, once per run, and removes them afterwards. Needs root, as
 * CI and this project's machines run the tests.
 */
export function setup(): () => void {
  if (process.getuid?.() !== 0) {
    throw new Error('the tests create two users and a group for the access-control tests, so they must run as root');
  }
  const created: Array<() => void> = [];
  if (!exists('group', TEST_GROUP)) {
    run('groupadd', ['--system', TEST_GROUP]);
    created.push(() => run('groupdel', [TEST_GROUP]));
  }
  for (const [name, { inGroup }] of Object.entries(TEST_USERS)) {
    if (!exists('passwd', name)) {
      run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
      // Removed before the group, which it may belong to.
      created.unshift(() => run('userdel', [name]));
    }
    if (inGroup) run('usermod', ['--append', '--groups', TEST_GROUP, name]);
  }
  return () => {
    for (const remove of created) remove();
  };
}

function exists(database: 'passwd' | 'group', name: string): boolean {
  try {
    execFileSync('getent', [database, name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}
