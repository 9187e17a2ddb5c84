import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ATTACKS } from './attacks/index.js';
import { killStarted, removeTempDirs } from './processes.js';
import { anyNotHeld, renderConsoleLine, renderMarkdown, type AttackReport, type Row } from './report.js';
import { runAttack } from './runner.js';
import { ensureUsers, PROJECT_ROOT, readableCopyOfProject } from './users.js';

/** The whole run stops starting attacks past this, so it always ends (5 minutes; 90 s quick). */
const BUDGET_MS = { full: 280_000, quick: 85_000 };

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' } } });
const quick = values.quick ?? false;
const only = values.only?.split(',');
const chosen = ATTACKS.filter((attack) => !only || only.includes(attack.name));
/** Removes the users this run created; set once they exist. */
let removeUsers: () => void = () => undefined;

async function main(): Promise<number> {
  if (only && chosen.length !== only.length) {
    const known = ATTACKS.map((attack) => attack.name).join(', ');
    process.stderr.write(`attack: unknown name in --only ${values.only}; known: ${known}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('attack: must run as root: it starts sockbusd as root and attacks it as other users (made for the run if missing)\n');
    return 2;
  }
  const began = Date.now();
  removeUsers = ensureUsers();
  const rows: Row[] = [];
  try {
    const copy = readableCopyOfProject();
    for (const attack of chosen) {
      if (Date.now() - began > (quick ? BUDGET_MS.quick : BUDGET_MS.full)) {
        rows.push({ name: attack.name, title: attack.title, verdict: { held: false, reason: 'not run: the run\'s time budget was spent', details: {} }, brokerAlive: null, peakRssMiB: null, pair: null, notes: [], figures: {}, seconds: 0 });
        continue;
      }
      const row = await runAttack(attack, { quick, copy });
      rows.push(row);
      console.log(renderConsoleLine(row));
    }
  } finally {
    await killStarted();
    removeTempDirs();
    removeUsers();
  }
  const report: AttackReport = { date: new Date().toISOString(), quick, node: process.version, seconds: Math.round((Date.now() - began) / 1000), rows };
  const base = only ? 'partial' : quick ? 'quick' : 'latest';
  const directory = join(PROJECT_ROOT, 'attack/results');
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(directory, `${base}.md`), renderMarkdown(report));
  console.log(`\n${rows.length} attacks in ${report.seconds} s; results in attack/results/${base}.md and .json`);
  return anyNotHeld(rows) ? 1 : 0;
}

// A run interrupted by Ctrl-C still ends its own processes and removes its files and users.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void killStarted().finally(() => {
      removeTempDirs();
      removeUsers();
      process.exit(130);
    });
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`attack: ${(error as Error).stack ?? String(error)}\n`);
    void killStarted().finally(() => {
      removeTempDirs();
      process.exit(1);
    });
  },
);
