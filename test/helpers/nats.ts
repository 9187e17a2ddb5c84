import { spawn } from 'node:child_process';
import { Child, track } from './processes.js';
import { waitFor } from './wait.js';

/** Starts Debian's nats-server on a loopback port and waits until it accepts clients. */
export async function startNatsServer(port: number): Promise<Child> {
  const child = track(new Child(spawn('nats-server', ['--addr', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })));
  await waitFor(() => child.stderr.includes('Server is ready') || !child.running, 'nats-server to be ready');
  if (!child.running) throw new Error(`nats-server exited: ${child.stderr}`);
  return child;
}
