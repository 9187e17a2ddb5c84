import { execFileSync } from 'node:child_process';
import { testUser } from '../helpers/users.js';

/** Runs a command as `user` (own group only) to completion, as an unprivileged attacker would: `ln -s`, `mkfifo`, `touch`. */
export function runAs(user: string, command: string, args: string[]): string {
  const { uid, gid } = testUser(user);
  return execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', command, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
