import { describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { runFuzz } from '../helpers/fuzz.js';
import { MiB } from '../helpers/memory.js';

describe('fuzzing a live broker', () => {
  it('10 seconds of random and mutated frames from many connections: no crash, no loss beside them, memory bounded', { timeout: 60_000 }, async () => {
    const broker = await startBroker({ args: ['--log-level', 'error', '--frame-timeout', '200', '--handshake-timeout', '200', '--max-pending', '1MiB'] });
    const result = await runFuzz({ broker, seconds: 10, connect: (path, name) => connectClient(path, { name }) });
    console.log(`fuzz (seed ${result.seed}): ${JSON.stringify({ ...result, inputsByKind: undefined })}`);
    expect(result.brokerAlive).toBe(true);
    expect(Object.keys(result.inputsByKind).length).toBeGreaterThanOrEqual(12);
    expect(result.sequence.lostUnreported).toBe(0);
    expect(result.sequence.duplicatesOrReordered).toBe(0);
    // Nothing at all was missing: no crash, no disconnect, nothing dropped.
    expect(result.sequence.delivered).toBe(result.sequence.published);
    expect(result.brokerPeakRssBytes).toBeLessThan(160 * MiB);
  });
});
