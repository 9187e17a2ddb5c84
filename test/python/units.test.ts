import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/processes.js';
import { pythonFile } from './python.js';

describe('the Python client without a broker', () => {
  it('names (section 4.1 exactly), bounded frame reads, broker frame shapes, the offline queue, backoff (test_units.py)', async () => {
    const run = pythonFile(join(PROJECT_ROOT, 'test/python/test_units.py'), ['-v']);
    await run.waitForExit();
    // unittest reports on stderr; on failure the assertion shows it whole.
    expect(run.stderr).toMatch(/\nOK\n$/);
    expect(run.exitCode).toBe(0);
  });
});
