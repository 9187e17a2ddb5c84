import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emit, runAgent, task } from './agent-io.js';

/** File operations as another user, each reported with whether it worked: what that user can do to a path. */
type Operation =
  | { op: 'symlink'; target: string; path: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'mkfifo'; path: string }
  | { op: 'write'; path: string; data: string; mode: number }
  | { op: 'read'; path: string; find?: string }
  | { op: 'openWrite'; path: string }
  /** Reads every regular file in a directory this user can read, and names those holding `find`. */
  | { op: 'scan'; path: string; find: string };

runAgent(async () => {
  const { ops } = task<{ ops: Operation[] }>();
  const results = ops.map((operation) => {
    try {
      switch (operation.op) {
        case 'symlink':
          symlinkSync(operation.target, operation.path);
          return { ...operation, ok: true };
        case 'mkdir':
          mkdirSync(operation.path);
          chmodSync(operation.path, operation.mode);
          return { ...operation, ok: true };
        case 'rename':
          renameSync(operation.from, operation.to);
          return { ...operation, ok: true };
        case 'mkfifo':
          execFileSync('mkfifo', ['-m', '0666', operation.path]);
          return { ...operation, ok: true };
        case 'write':
          writeFileSync(operation.path, operation.data);
          chmodSync(operation.path, operation.mode);
          return { ...operation, ok: true };
        case 'read': {
          const content = readFileSync(operation.path);
          return { ...operation, ok: true, bytes: content.length, found: operation.find ? content.includes(operation.find) : undefined };
        }
        case 'scan': {
          const found: string[] = [];
          for (const name of readdirSync(operation.path)) {
            const path = join(operation.path, name);
            try {
              // lstat: FIFOs would block a read, and symlinks are judged by their targets.
              if (lstatSync(path).isFile() && readFileSync(path).includes(operation.find)) found.push(path);
            } catch {
              // unreadable: nothing leaks through it
            }
          }
          return { ...operation, ok: true, found };
        }
        case 'openWrite':
          // O_WRONLY without O_TRUNC: proves write access without changing the file.
          closeSync(openSync(operation.path, 'r+'));
          return { ...operation, ok: true };
      }
    } catch (error) {
      return { ...operation, ok: false, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
    }
  });
  emit('result', { results });
});
