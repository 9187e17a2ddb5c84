import { SOCKET_POLL_MS, socketAppearedDelay, socketFileChanged, socketFileIdentity } from './socket-watch.js';

/**
 * The wait between two connection attempts: the backoff delay, cut short
 * when a new socket file appears at the path (see socket-watch.ts), and
 * then only by a jitter of its own, so the clients of a restarted broker do
 * not all dial in one moment. close() cancels it.
 */
export class RetryWait {
  private cancelSleep: (() => void) | null = null;
  private cancelled = false;

  constructor(private readonly path: string) {}

  async wait(delayMs: number, failedFile: string | null): Promise<void> {
    const deadline = Date.now() + delayMs;
    for (let remaining = delayMs; remaining > 0 && !this.cancelled; remaining = deadline - Date.now()) {
      await this.sleep(Math.min(remaining, SOCKET_POLL_MS));
      if (!socketFileChanged(await socketFileIdentity(this.path), failedFile)) continue;
      await this.sleep(Math.min(deadline - Date.now(), socketAppearedDelay()));
      return;
    }
  }

  /** Ends the wait under way, and every later one, at once. */
  cancel(): void {
    this.cancelled = true;
    this.cancelSleep?.();
  }

  private sleep(delayMs: number): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.cancelSleep = null;
        resolve();
      };
      const timer = setTimeout(wake, delayMs);
      this.cancelSleep = wake;
    });
  }
}
