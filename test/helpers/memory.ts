import { readFileSync } from 'node:fs';

/** A line of /proc/PID/status in bytes: VmRSS now, VmHWM the peak so far. */
export function processMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} for process ${pid}`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

export const MiB = 1024 * 1024;
