import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './helpers/processes.js';

/** Every module specifier a folder's TypeScript files import, static or dynamic, as `file: specifier`. */
function importsOf(folder: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(PROJECT_ROOT, folder), { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.ts')) continue;
    const text = readFileSync(join(PROJECT_ROOT, folder, entry), 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) found.push(`${folder}/${entry}: ${match[1]}`);
  }
  return found;
}

describe('the package layout', () => {
  it('the library does not import the CLI: the package entry point stays the library alone', () => {
    expect(importsOf('client').filter((line) => /: (\.\.\/)+cli\//.test(line))).toEqual([]);
  });

  it('only the bridge imports nats, an optional peer dependency, and parsing the broker\'s options does not load the bridge', () => {
    const every = ['protocol', 'broker', 'client', 'cli'].flatMap(importsOf);
    expect([...new Set(every.filter((line) => line.endsWith(': nats')).map((line) => line.split(':')[0]))]).toEqual(['broker/bridge/nats-bridge.ts']);
    // Types only at the top; the package itself through import(), when a bridge is started.
    expect(readFileSync(join(PROJECT_ROOT, 'broker/bridge/nats-bridge.ts'), 'utf8')).not.toMatch(/^import (?!type )[^;]*'nats'/m);
    expect(every.filter((line) => line.startsWith('broker/options.ts: ') && line.includes('bridge'))).toEqual([]);
  });
});
