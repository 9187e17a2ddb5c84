import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The access-control tests run clients as two users of their own, made once per run.
    globalSetup: ['test/setup/users.ts'],
    // Tests spawn real brokers and clients; a loaded 2-core machine can be slow.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two workers match the two cores CI has; more would only make timing less even.
    maxWorkers: 2,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
