import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const C_CLIENT_DIRECTORY = fileURLToPath(new URL('../../clients/c/', import.meta.url));

/** The C publisher and subscriber (clients/c/bench/sockbus-bench.c), built by the library's Makefile. */
export const C_BENCH_PROGRAM = `${C_CLIENT_DIRECTORY}build/sockbus-bench`;

let built: string | null | undefined;

/**
 * Builds the C bench program with make (a no-op when it is up to date).
 * Returns null when it is ready, else why it could not be built, for the
 * report's skipped list.
 */
export function buildCBench(): string | null {
  if (built !== undefined) return built;
  try {
    execFileSync('make', ['-C', C_CLIENT_DIRECTORY, 'build/sockbus-bench'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    built = null;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-2).join(' | ');
    built = `the C client did not build: make -C clients/c build/sockbus-bench said "${stderr || (error as Error).message}"; it needs build-essential, pkg-config and libmsgpack-dev`;
  }
  return built;
}
