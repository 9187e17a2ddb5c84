import { readFileSync } from 'node:fs';

const SAMPLE_EVERY_MS = 100;

/**
 * The peak resident memory of one process: VmHWM (the kernel's own
 * high-water mark) when it can still be read, else the largest VmRSS seen
 * by polling, so a broker that dies still has a figure.
 */
export class RssSampler {
  private peakKiB = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly pid: number) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Peak RSS in MiB; null if the process was never sampled. */
  get peakMiB(): number | null {
    return this.peakKiB === 0 ? null : Math.round((this.peakKiB / 1024) * 10) / 10;
  }

  private sample(): void {
    let status: string;
    try {
      status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    } catch {
      return; // gone: keep the last figure
    }
    for (const key of ['VmHWM', 'VmRSS']) {
      const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      if (match) this.peakKiB = Math.max(this.peakKiB, Number(match[1]));
    }
  }
}
