import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir, PROJECT_ROOT } from '../helpers/processes.js';
import { pythonFile } from './python.js';

const VECTORS = join(PROJECT_ROOT, 'protocol/vectors');
const CHECKER = join(PROJECT_ROOT, 'test/python/check_vectors.py');

interface Report {
  checked: Record<string, number>;
  skipped: Array<{ name: string; why: string }>;
  failures: unknown[];
}

async function check(directory: string): Promise<Report> {
  const run = pythonFile(CHECKER, [directory]);
  await run.waitForExit();
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as Report;
}

/** How many vectors of each kind the files hold: the checker must have run every one. */
function counts(directory: string): Record<string, number> {
  const read = (name: string) => JSON.parse(readFileSync(join(directory, name), 'utf8'));
  const topics = read('topics.json');
  const result: Record<string, number> = {};
  for (const list of ['topics', 'patterns', 'queues', 'headerNames']) if (topics[list]?.length) result[list] = topics[list].length;
  result['matching'] = read('matching.json').cases.length;
  result['brokerFrames'] = read('frames.json').broker.length;
  result['clientFrames'] = read('frames.json').client.length;
  return result;
}

describe('the conformance vectors, through the Python client', () => {
  it('every topic, pattern, queue and header name verdict, every matching case and every broker frame agrees (protocol/vectors)', async () => {
    expect(existsSync(VECTORS), `${VECTORS} holds the vectors`).toBe(true);
    const report = await check(VECTORS);
    expect(report.failures).toEqual([]);
    // Client frames the Python API cannot send (malformed ones, for the broker's tests) are left out, each with why.
    const skippedClientFrames = report.skipped.length;
    expect(new Set(report.skipped.map((skip) => skip.why))).toEqual(new Set(['a malformed frame, which the API cannot send', 'not a frame the API makes', 'publish() and request() cannot ask for both', 'not one frame after a hello']));
    expect({ ...report.checked, clientFrames: (report.checked['clientFrames'] ?? 0) + skippedClientFrames }).toEqual(counts(VECTORS));
    expect(report.checked['clientFrames']).toBeGreaterThanOrEqual(30);
  });

  it('the checker reports a vector the client disagrees with (so a checker that checks nothing cannot pass)', async () => {
    const directory = makeTempDir();
    const write = (name: string, value: unknown) => writeFileSync(join(directory, name), JSON.stringify(value));
    write('topics.json', {
      topics: [
        { value: 'a.b', valid: true },
        { hex: '61ff', valid: false, code: 'INVALID_TOPIC' },
        { value: 'a\u200bb', valid: true }, // wrong on purpose: U+200B is refused (section 4.1)
      ],
      patterns: [{ value: 'app.ed*', valid: false, code: 'INVALID_PATTERN' }],
      queues: [{ value: 'w', valid: true }],
      headerNames: [{ value: 'a:b', valid: false }],
    });
    write('matching.json', {
      cases: [
        { pattern: 'app.*', topic: 'app.x', matches: true },
        { pattern: '>', topic: '$SYS.x', matches: true }, // wrong on purpose
      ],
    });
    write('frames.json', {
      broker: [
        { name: 'subscribed', hex: '00000003921001', value: [16, 1] },
        { name: 'wrong on purpose', hex: '00000003920809', value: [8, 10] },
        { name: 'ext', hex: '0000000d9606a178d62a01020304c0c0c0', value: [6, 'x', { $ext: [42, '01020304'] }, null, null, null] },
      ],
      client: [
        // [3, "a..b", 1] is refused by the broker with INVALID_TOPIC: the client must refuse it first.
        { name: 'invalid topic', hello: true, frames: ['000000089303a4612e2e6201'], expect: { answers: ['000000129409ad494e56414c49445f544f504943a0c0'] } },
        // [3, "a.b", 1] accepted, but the vector says INVALID_TOPIC: wrong on purpose.
        { name: 'wrong on purpose too', hello: true, frames: ['000000069303a3612e6201'], expect: { answers: ['000000129409ad494e56414c49445f544f504943a0c0'] } },
        { name: 'malformed', hello: true, frames: ['00000000'], expect: { error: { code: 'MALFORMED_FRAME' }, closes: true } },
      ],
    });
    const report = await check(directory);
    expect(report.checked).toEqual({ topics: 3, patterns: 1, queues: 1, headerNames: 1, matching: 2, brokerFrames: 3, clientFrames: 2 });
    expect(report.skipped).toEqual([{ name: 'malformed', why: 'a malformed frame, which the API cannot send' }]);
    expect(report.failures).toEqual([
      { file: 'topics.json', list: 'topics', case: { value: 'a\u200bb', valid: true }, expected: null, got: 'INVALID_TOPIC' },
      { file: 'matching.json', case: { pattern: '>', topic: '$SYS.x', matches: true }, expected: true, got: false },
      { file: 'frames.json', name: 'wrong on purpose', expected: [8, 10], got: [8, 9] },
      { file: 'frames.json', name: 'wrong on purpose too', expected: 'INVALID_TOPIC', got: null },
    ]);
  });
});
