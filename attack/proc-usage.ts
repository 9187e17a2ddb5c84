import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Reading {
  at: number;
  cpuMs: number;
  /** Bytes the process caused to reach the storage layer (/proc/PID/io write_bytes). */
  writeBytes: number;
}

/** What a process used between start and stop. */
export interface Usage {
  wallMs: number;
  cpuMs: number;
  /** CPU as a share of one core, %. */
  cpuPercent: number;
  writeBytes: number;
}

function read(pid: number): Reading {
  // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th of them.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const io = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return { at: performance.now(), cpuMs: (ticks * 1000) / TICKS_PER_SECOND, writeBytes: Number(io?.[1] ?? 0) };
}

/** The broker's CPU and disk writes over one phase of an attack, from /proc (root may read them). */
export class UsageMeter {
  private constructor(
    private readonly pid: number,
    private readonly begin: Reading,
  ) {}

  static start(pid: number): UsageMeter {
    return new UsageMeter(pid, read(pid));
  }

  /** Usage since start; null when the process is gone. */
  stop(): Usage | null {
    let end: Reading;
    try {
      end = read(this.pid);
    } catch {
      return null;
    }
    const wallMs = end.at - this.begin.at;
    const cpuMs = end.cpuMs - this.begin.cpuMs;
    return { wallMs: Math.round(wallMs), cpuMs: Math.round(cpuMs), cpuPercent: Math.round((cpuMs / wallMs) * 1000) / 10, writeBytes: end.writeBytes - this.begin.writeBytes };
  }
}
