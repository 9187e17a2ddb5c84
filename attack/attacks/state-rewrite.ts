import { statSync } from 'node:fs';
import { join } from 'node:path';
import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, measured, MEMORY_BAR, refusalCounts } from '../exhaustion.js';
import { pollUntil, sleep } from '../processes.js';
import { ALICE } from '../users.js';

const STATE = 'state.msgpack';
const VALUE_BYTES = 100 * 1024;
/** The broker writes its state file at most once a second, so this many writes a second, at most, pass. */
const MAX_WRITES_PER_SECOND = 1;

/** Counts the state file's rewrites by its inode: each save writes a new file and renames it over the old. */
class RewriteCounter {
  private lastInode: number | null = null;
  rewrites = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly path: string) {
    this.lastInode = this.inode();
    this.timer = setInterval(() => {
      const inode = this.inode();
      if (inode !== null && inode !== this.lastInode) this.rewrites++;
      this.lastInode = inode;
    }, 10);
  }

  stop(): number {
    clearInterval(this.timer);
    return this.rewrites;
  }

  private inode(): number | null {
    try {
      return statSync(this.path).ino;
    } catch {
      return null;
    }
  }
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** Issue 12, 7: a tiny retain every 5 ms must not make the broker rewrite a large state file each time. */
export const stateRewrite: Attack = {
  name: 'state-rewrite',
  title: 'with --state, alice retains 60 MB (quick: 20 MB), then re-retains a tiny value every 5 ms for 4 s (quick: 2 s); counts the state file rewrites and the bytes the broker writes',
  broker: (directory) => ['--state', join(directory, STATE)],
  bars: MEMORY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const state = join(context.directory, STATE);
    const values = context.quick ? 200 : 600;
    const durationMs = context.quick ? 2000 : 4000;
    const failures: string[] = [];
    const loader = context.agent(ALICE, 'publish-loop', { path, topic: 'alice.big', uniqueTopics: true, retain: true, payloadBytes: VALUE_BYTES, window: 10, maxCount: values, durationMs: 60_000 });
    const loaded = await expectEvent(loader, 'result', 60_000, "alice's bulk retain", failures);
    if (loaded && Object.keys(loaded['errors'] as object).length > 0) failures.push(`alice's retains were refused: ${refusalCounts(loaded['errors'])}`);
    // The load's own saves end first: the file holds it all, and a save interval has passed.
    await pollUntil(() => sizeOf(state) >= values * VALUE_BYTES, 15_000);
    await sleep(1500);
    const fileBytes = sizeOf(state);
    const counter = new RewriteCounter(state);
    const { result: tiny, usage } = await measured(context, () => {
      const rewriter = context.agent(ALICE, 'publish-loop', { path, topic: 'alice.tiny', retain: true, window: 1, pauseMs: 5, durationMs });
      return expectEvent(rewriter, 'result', durationMs + 20_000, "alice's tiny retains", failures);
    });
    const rewrites = counter.stop();
    const seconds = (usage?.wallMs ?? durationMs) / 1000;
    const allowed = Math.ceil(seconds * MAX_WRITES_PER_SECOND) + 1;
    if (rewrites > allowed) failures.push(`the state file was rewritten ${rewrites} times in ${seconds.toFixed(1)} s, more than ${allowed}`);
    const mebibytes = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    context.figure('state file MiB', mebibytes(fileBytes));
    context.figure('tiny retains', String(tiny?.['published'] ?? 0));
    context.figure('rewrites', `${rewrites} in ${seconds.toFixed(1)} s`);
    context.figure('broker wrote MiB/s', usage ? mebibytes(usage.writeBytes / seconds) : 'n/a');
    return verdictOf(failures, { loaded, tiny, fileBytes, rewrites, usage });
  },
};
