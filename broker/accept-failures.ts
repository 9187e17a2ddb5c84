import type { Logger } from './log.js';

/** Accept failures closer together than this are one episode, logged once. */
const EPISODE_MS = 10_000;

/**
 * Accept can fail (EMFILE or ENFILE when the process or the system is out
 * of descriptors): worth a count and a line per episode, never a crash.
 * libuv itself then takes and closes the connections it cannot serve, so
 * the event loop does not spin on a listening socket that stays readable.
 */
export class AcceptFailures {
  count = 0;
  private lastAt = 0;

  constructor(private readonly log: Logger) {}

  note(error: Error): void {
    this.count++;
    const now = Date.now();
    const newEpisode = now - this.lastAt > EPISODE_MS;
    this.lastAt = now;
    if (newEpisode) this.log.error(`accepting connections: ${error.message} (${this.count} accept failures so far; logged again after ${EPISODE_MS / 1000} s without one)`);
  }
}
