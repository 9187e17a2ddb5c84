import { describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { runCrashCycles } from '../helpers/crash-cycles.js';

describe('crash cycles', () => {
  it('5 publishers and 5 subscribers survive 20 SIGKILLs of the broker: all back each time, no silent loss', { timeout: 120_000 }, async () => {
    const broker = await startBroker();
    const result = await runCrashCycles({
      socketPath: broker.socketPath,
      firstBroker: broker,
      cycles: 20,
      publishers: 5,
      subscribers: 5,
      connect: (path, name) => connectClient(path, { name }),
    });
    expect(result.cycles).toBe(20);
    expect(result.reconnectMs).toHaveLength(20);
    expect(result.report.published).toBeGreaterThan(0);
    expect(result.report.duplicatesOrReordered).toBe(0);
    expect(result.report.lostUnreported).toBe(0);
    // While connected, subscribers get everything: most of the traffic arrives.
    expect(result.report.delivered).toBeGreaterThan(result.report.published * 5 * 0.5);
    console.log(`crash cycles: ${JSON.stringify(result.report)}; reconnect p50 ${result.p50Ms} ms, max ${result.maxMs} ms`);
  });
});
