import type { AttackContext } from '../attack.js';
import { sleep, type Child } from '../processes.js';
import { CAROL } from '../users.js';

/** What one of carol's clients did against bob's impostor. */
export interface ClientOutcome {
  client: string;
  /** It ended by itself with a failure, or the library refused to connect. */
  refused: boolean;
  /** Bytes bob's impostor received from it. */
  bytesToImpostor: number;
  said: string;
}

/** Bytes the impostor has received so far. */
export function bytesReceived(fake: Child): number {
  return Number(fake.lastEvent('bytes')?.['total'] ?? 0);
}

export function acceptedCount(fake: Child): number {
  return Number(fake.lastEvent('accepted')?.['total'] ?? 0);
}

/**
 * Runs `sockbus pub`, `sockbus sub` and the library's `connect()` as carol
 * against `path`, one after another so each one's bytes are its own.
 */
export async function carolClientsAgainst(context: AttackContext, fake: Child, path: string): Promise<ClientOutcome[]> {
  const outcomes: ClientOutcome[] = [];
  const measure = async (client: string, run: () => Promise<{ refused: boolean; said: string }>) => {
    const before = bytesReceived(fake);
    const { refused, said } = await run();
    // The impostor reports what it read a moment after the client wrote it.
    await sleep(300);
    outcomes.push({ client, refused, bytesToImpostor: bytesReceived(fake) - before, said: said.trim().slice(0, 200) });
  };
  const cli = (args: string[], waitMs: number) => async () => {
    const child = context.cli(CAROL, [...args, '--socket', path]);
    const ended = await child.waitForExit(waitMs);
    if (!ended) await child.kill();
    return { refused: ended && child.exitCode !== 0, said: ended ? `exit ${child.exitCode}: ${child.stderr}` : `still running after ${waitMs} ms` };
  };
  await measure('sockbus pub', cli(['pub', 'attack.impostor', '"secret"'], 8000));
  await measure('sockbus sub', cli(['sub', 'attack.>', '--count', '1'], 3000));
  await measure('connect()', async () => {
    const probe = context.agent(CAROL, 'client-probe', { path, mode: 'once' });
    const result = await probe.nextEvent('result', 10_000);
    const connected = result?.['connected'] !== false;
    return { refused: !connected, said: connected ? 'connected' : `${result?.['code']}: ${result?.['message']}` };
  });
  return outcomes;
}

/** The failures among the outcomes: a client that went on, or any byte sent to bob. */
export function impostorFailures(outcomes: ClientOutcome[]): string[] {
  return outcomes
    .filter((outcome) => !outcome.refused || outcome.bytesToImpostor > 0)
    .map((outcome) => `${outcome.client} ${outcome.refused ? 'refused but' : 'accepted the impostor and'} sent it ${outcome.bytesToImpostor} bytes`);
}
