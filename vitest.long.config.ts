import { defineConfig } from 'vitest/config';

const seconds = Number(process.env['SOCKBUS_LONG_RUN_SECONDS'] ?? 600);

/** For `npm run soak` and `npm run fuzz`: one long run, its output shown as it comes. */
export default defineConfig({
  test: {
    include: ['test/long/*.long.ts'],
    testTimeout: (seconds + 300) * 1000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    silent: false,
  },
});
