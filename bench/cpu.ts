import { readFileSync } from 'node:fs';

/** CPU seconds a process has used so far (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * CPU seconds the whole machine has been busy so far, summed over its cores
 * (user, nice, system, irq, softirq and steal of /proc/stat's first line).
 */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ
}

/** Wall-clock time in milliseconds with sub-millisecond precision, comparable across processes. */
export const now = () => performance.timeOrigin + performance.now();

interface Sample {
  at: number;
  /** Each watched process's CPU seconds, then the machine's busy seconds. */
  seconds: number[];
}

export interface CpuUsed {
  /** CPU seconds of each watched process, in the order given. */
  processes: number[];
  /** CPU seconds the whole machine was busy, all cores together: the watched processes and everything else. */
  machine: number;
}

/**
 * Samples the CPU time of a set of processes from start() until stop(), so
 * that their share over a window that ends between two samples (the last
 * delivery) can be read afterwards without counting the idle wait of a
 * subscriber that lost messages. USER_HZ ticks are 10 ms, so a share is
 * good to about 1 % per second of window. The machine's own busy time is
 * sampled with them, so that what others run on a shared machine shows.
 */
export class CpuSampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pids: number[],
    private readonly intervalMs = 25,
  ) {}

  start(): number {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this.samples[0]!.at;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  /** CPU seconds used from start() to `until`, interpolated between the samples around it. */
  usedUntil(until: number): CpuUsed {
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const after = this.samples.find((sample) => sample.at >= until) ?? last;
    const before = [...this.samples].reverse().find((sample) => sample.at <= until) ?? first;
    const fraction = after.at > before.at ? (until - before.at) / (after.at - before.at) : 1;
    const used = first.seconds.map((_, index) => {
      const at = before.seconds[index]! + (after.seconds[index]! - before.seconds[index]!) * Math.min(1, Math.max(0, fraction));
      return at - first.seconds[index]!;
    });
    return { processes: used.slice(0, this.pids.length), machine: used[this.pids.length]! };
  }

  private sample(): void {
    const previous = this.samples[this.samples.length - 1];
    const seconds = this.pids.map((pid, index) => {
      try {
        return cpuSeconds(pid);
      } catch {
        // A process that has already ended keeps its last figure.
        return previous?.seconds[index] ?? 0;
      }
    });
    this.samples.push({ at: now(), seconds: [...seconds, machineBusySeconds()] });
  }
}
