import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { C_BENCH_PROGRAM } from './c-client.js';
import type { PeerTask } from './peer.js';

const PEER_SCRIPT = fileURLToPath(new URL('./peer.js', import.meta.url));

/**
 * A running benchmark process. It says `ready` when connected (a
 * subscriber: subscribed), then waits for go(), so that every publisher
 * starts at once and after its own start-up, and no subscriber gives up
 * before then. `result` resolves with the JSON line it prints when done;
 * it then stays, so that its CPU time can still be read, until release().
 */
export interface Peer {
  pid: number;
  ready: Promise<void>;
  result: Promise<unknown>;
  go(): void;
  /** Lets it close its connection and exit; resolves when it has. */
  release(): Promise<void>;
  kill(): void;
}

/** The command that runs a task: the C program for the C clients, else peer.js in Node. */
function command(task: PeerTask): [string, string[]] {
  if (task.system !== 'sockbus-c') return [process.execPath, [PEER_SCRIPT, JSON.stringify(task)]];
  const common = ['--path', task.address, '--topic', task.topic];
  switch (task.role) {
    case 'publish':
      return [C_BENCH_PROGRAM, ['publish', ...common, '--count', String(task.count), '--size', String(task.size), '--rate', String(task.ratePerSecond ?? 0), '--flow-bytes', String(task.flowBytes)]];
    case 'subscribe':
      return [C_BENCH_PROGRAM, ['subscribe', ...common, '--expect', String(task.expect), '--idle-ms', String(task.idleTimeoutMs), ...(task.measureLatency ? ['--latency'] : [])]];
  }
}

export function startPeer(task: PeerTask, timeoutMs: number): Peer {
  const [program, args] = task.role === 'hold' ? [process.execPath, [PEER_SCRIPT, JSON.stringify(task)]] : command(task);
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  let markResult!: (value: unknown) => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const reported = new Promise<unknown>((resolve) => (markResult = resolve));
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    if (stdout.includes('ready\n')) markReady();
    const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
    if (line) markResult(JSON.parse(line));
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // A peer that never releases (the orchestrator died) goes when its standard input ends; one that hangs, at the timeout.
  child.stdin!.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${task.system} ${task.role} peer ended with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  exited.catch(() => undefined);
  // A peer that dies before it reports must not leave the run waiting forever.
  const result = Promise.race([reported, exited.then(() => Promise.reject(new Error(`${task.system} ${task.role} peer exited without a result`)))]);
  result.catch(() => undefined);
  const readyOrFailed = Promise.race([ready, exited.then(() => undefined)]);
  return {
    pid: child.pid!,
    ready: readyOrFailed,
    result,
    go: () => void child.stdin!.write('go\n'),
    release: () => {
      child.stdin!.end();
      // A close that hangs must not hold the run: it has already reported.
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      return exited.finally(() => clearTimeout(force));
    },
    kill: () => child.kill('SIGKILL'),
  };
}
