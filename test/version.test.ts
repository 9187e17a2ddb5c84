import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { VERSION } from '../protocol/index.js';
import { PROJECT_ROOT } from './helpers/processes.js';

it('the version the programs report is the package version', () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version);
});
