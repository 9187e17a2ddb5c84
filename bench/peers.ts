import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PeerTask } from './peer.js';

const PEER_SCRIPT = fileURLToPath(new URL('./peer.js', import.meta.url));

/** A running benchmark process: resolves `ready` when it says so, `result` with its last JSON line. */
export interface Peer {
  ready: Promise<void>;
  result: Promise<unknown>;
  kill(): void;
}

export function startPeer(task: PeerTask, timeoutMs: number): Peer {
  const child = spawn(process.execPath, [PEER_SCRIPT, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    if (stdout.includes('ready\n')) markReady();
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = new Promise<unknown>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n');
      if (code === 0) resolve(JSON.parse(lines[lines.length - 1]!));
      else reject(new Error(`${task.system} ${task.role} peer ended with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  // A peer that dies before it is ready must not leave the run waiting forever.
  const readyOrFailed = Promise.race([ready, result.then(() => undefined)]);
  result.catch(() => undefined);
  return { ready: readyOrFailed, result, kill: () => child.kill('SIGKILL') };
}
