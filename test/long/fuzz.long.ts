import { writeFileSync, mkdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { runFuzz } from '../helpers/fuzz.js';
import { MiB } from '../helpers/memory.js';

const seconds = Number(process.env['SOCKBUS_LONG_RUN_SECONDS'] ?? 60);
const seed = process.env['SOCKBUS_FUZZ_SEED'] ? Number(process.env['SOCKBUS_FUZZ_SEED']) : undefined;

it(`fuzzes a live broker for ${seconds} s`, async () => {
  const broker = await startBroker({ args: ['--log-level', 'error', '--frame-timeout', '200', '--handshake-timeout', '200', '--max-pending', '1MiB'] });
  const result = await runFuzz({ broker, seconds, seed, connect: (path, name) => connectClient(path, { name }), onProgress: (line) => console.log(line) });
  mkdirSync('test-results', { recursive: true });
  writeFileSync('test-results/fuzz.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    [
      `fuzz summary (${seconds} s, seed ${result.seed}, replay with --seed ${result.seed}):`,
      `  hostile connections: ${result.connections}, bad inputs sent: ${result.inputsSent} in ${Object.keys(result.inputsByKind).length} kinds`,
      `  by kind: ${JSON.stringify(result.inputsByKind)}`,
      `  errors the broker answered: ${JSON.stringify(result.errorsByCode)}`,
      `  broker alive: ${result.brokerAlive}, peak RSS ${(result.brokerPeakRssBytes / MiB).toFixed(1)} MiB`,
      `  sequenced pair: ${JSON.stringify(result.sequence)}`,
    ].join('\n'),
  );
  expect(result.brokerAlive).toBe(true);
  expect(result.sequence.lostUnreported).toBe(0);
  expect(result.sequence.duplicatesOrReordered).toBe(0);
  expect(result.sequence.delivered).toBe(result.sequence.published);
  expect(result.brokerPeakRssBytes).toBeLessThan(160 * MiB);
});
