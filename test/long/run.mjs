#!/usr/bin/env node
// Runs a long reliability run (soak or fuzz) for a bounded time:
//   node test/long/run.mjs soak [--minutes N | --seconds N]
//   node test/long/run.mjs fuzz [--seconds N] [--seed N]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const defaults = { soak: 600, fuzz: 60 };
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: 'string' }, minutes: { type: 'string' }, seed: { type: 'string' } },
});
const run = positionals[0];
if (!(run in defaults)) {
  process.stderr.write('usage: node test/long/run.mjs soak|fuzz [--seconds N | --minutes N] [--seed N]\n');
  process.exit(2);
}
const seconds = values.minutes ? Number(values.minutes) * 60 : values.seconds ? Number(values.seconds) : defaults[run];
if (!(seconds > 0)) {
  process.stderr.write('--seconds and --minutes take a positive number\n');
  process.exit(2);
}
const environment = { ...process.env, SOCKBUS_LONG_RUN_SECONDS: String(seconds), SOCKBUS_FUZZ_SEED: values.seed ?? '' };
const vitest = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.long.config.ts', `test/long/${run}.long.ts`], { stdio: 'inherit', env: environment });
process.exit(vitest.status ?? 1);
