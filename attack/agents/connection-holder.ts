import { emit, nextCommand, runAgent, task } from './agent-io.js';
import { Tally } from './tally.js';
import { RawConnection } from './wire.js';

/**
 * Opens many connections as one user and keeps those the broker welcomes,
 * each optionally subscribed to a pattern and then never read; reports
 * how many were welcomed and how the rest were refused, then holds them
 * until told to close.
 */
interface HolderTask {
  path: string;
  count: number;
  /** The hello name's length in bytes (default: a short name). */
  nameBytes?: number;
  /** Each welcomed connection subscribes to this, and waits for the broker to take it. */
  pattern?: string;
  /** false: once welcomed (and subscribed), the connection is never read again. */
  read?: boolean;
  /** Connections being opened at once: the listen backlog is finite. */
  concurrency?: number;
  /** false: close each connection as soon as its answer is in (probing refusals, not holding slots). */
  hold?: boolean;
  /** Keep opening, `concurrency` at a time, until this long has passed, even past `count`. */
  forMs?: number;
}

runAgent(async () => {
  const { path, count, nameBytes, pattern, read = true, concurrency = 50, hold = true, forMs = 0 } = task<HolderTask>();
  const name = nameBytes ? 'n'.repeat(nameBytes) : 'holder';
  const held: RawConnection[] = [];
  const refusals = new Tally();
  let started = 0;
  const began = Date.now();
  const openOne = async () => {
    let connection: RawConnection;
    try {
      connection = await RawConnection.open(path, { name, keepDeliveries: false });
    } catch (error) {
      return refusals.add('CONNECT_FAILED', (error as Error).message);
    }
    if (!connection.welcomed) {
      refusals.add(connection.firstError?.split(':')[0] ?? 'CLOSED', connection.firstError ?? `closed without an answer (${connection.closeError ?? 'no error'})`);
      return connection.destroy();
    }
    if (pattern !== undefined) {
      connection.send([4, 1, pattern]);
      await connection.ping(1);
    }
    if (!read) connection.stopReading();
    if (hold) held.push(connection);
    else connection.destroy();
  };
  const worker = async () => {
    while (started < count || Date.now() - began < forMs) {
      started++;
      await openOne();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  emit('opened', { attempts: started, welcomed: started - refusals.total, refusals: refusals.toJSON(), ms: Date.now() - began });
  if (!hold) return;
  await nextCommand('close');
  const stillOpen = held.filter((connection) => !connection.closed).length;
  for (const connection of held) connection.destroy();
  emit('closed', { held: held.length, stillOpen });
});
