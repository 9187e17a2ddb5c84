import { mebibytes, type BrokerStats } from '../protocol/index.js';
import { escapeControls } from './terminal-escape.js';
import type { Styles } from './terminal-format.js';

/** The broker's stats at one moment. */
export interface Sample {
  atMs: number;
  stats: BrokerStats;
}

/** The counters a rate is shown for. */
type RateKey = 'messagesIn' | 'messagesOut' | 'dropped' | 'requests';

/** Per-second rates between two samples; the first sample has none yet. */
function perSecond(current: Sample, previous: Sample | null, read: (stats: BrokerStats) => number): number {
  if (!previous) return 0;
  const seconds = (current.atMs - previous.atMs) / 1000;
  return seconds > 0 ? Math.max(0, (read(current.stats) - read(previous.stats)) / seconds) : 0;
}

const counter = (key: RateKey) => (stats: BrokerStats) => Number(stats[key] ?? 0);
const number = (value: number) => Math.round(value).toLocaleString('en-US');

/** The header of the line-per-sample output used when stdout is not a terminal (like vmstat). */
export const LINE_HEADER = 'time\tin/s\tout/s\tconnections\tsubscriptions\tdropped\tdropped/s';

/** One sample as a tab-separated line, for pipes and logs. */
export function monitorLine(current: Sample, previous: Sample | null): string {
  const { stats } = current;
  const fields = [
    new Date(current.atMs).toTimeString().slice(0, 8),
    Math.round(perSecond(current, previous, counter('messagesIn'))),
    Math.round(perSecond(current, previous, counter('messagesOut'))),
    stats.connections,
    stats.subscriptions,
    stats.dropped,
    Math.round(perSecond(current, previous, counter('dropped'))),
  ];
  return fields.map((field) => escapeControls(String(field))).join('\t');
}

/**
 * A whole screen, redrawn in place every interval on a terminal, like top:
 * rates and totals, then the busiest clients.
 */
export function monitorScreen(current: Sample, previous: Sample | null, styles: Styles, rows: number): string {
  const { stats } = current;
  const rate = (key: RateKey) => perSecond(current, previous, counter(key));
  const { bridge } = stats;
  const lines = [
    `${styles.topic('sockbus monitor')}  ${escapeControls(String(stats.socket))}  ${escapeControls(String(stats.server))}  up ${uptime(Number(stats.uptimeSeconds))}  ${styles.dim('(Ctrl-C quits)')}`,
    '',
    `  messages in   ${number(rate('messagesIn')).padStart(10)}/s   total ${number(Number(stats.messagesIn))}`,
    `  messages out  ${number(rate('messagesOut')).padStart(10)}/s   total ${number(Number(stats.messagesOut))}`,
    `  dropped       ${number(rate('dropped')).padStart(10)}/s   total ${styled(Number(stats.dropped), styles)}`,
    `  connections   ${number(Number(stats.connections)).padStart(10)}    subscriptions ${number(Number(stats.subscriptions))}`,
    `  requests      ${number(rate('requests')).padStart(10)}/s   no responders ${number(Number(stats.noResponders))}`,
    `  denied        ${number(Number(stats.denied)).padStart(10)}    errors ${number(Number(stats.errors))}    retained ${number(Number(stats.retained))}`,
  ];
  if (bridge) {
    const state = bridge.connected ? 'connected' : styles.mark('DOWN');
    lines.push(`  bridge        ${escapeControls(String(bridge.url))} ${state}, exported ${number(Number(bridge.exported))}, imported ${number(Number(bridge.imported))}, not forwarded ${number(Number(bridge.notForwarded))}`);
  }
  const users = stats.users ?? [];
  if (users.length > 0) {
    lines.push('', styles.dim(`  ${'uid'.padStart(6)}  ${'user'.padEnd(20)} ${'conns'.padStart(6)} ${'subs'.padStart(6)} ${'memory / share'.padStart(20)} ${'dropped'.padStart(8)} ${'refused'.padStart(8)}`));
    for (const user of [...users].sort((a, b) => b.memoryBytes - a.memoryBytes).slice(0, 5)) {
      const memory = `${mebibytes(user.memoryBytes)} / ${mebibytes(user.memoryShareBytes)}`;
      lines.push(
        `  ${escapeControls(String(user.uid ?? '?')).padStart(6)}  ${escapeControls(String(user.user)).slice(0, 20).padEnd(20)} ${number(user.connections).padStart(6)} ${number(user.subscriptions).padStart(6)} ${memory.padStart(20)} ${styled(user.dropped, styles).padStart(8)} ${number(user.refused).padStart(8)}`,
      );
    }
  }
  lines.push('', styles.dim(`  ${'id'.padStart(5)}  ${'name'.padEnd(20)} ${'uid'.padStart(6)} ${'pid'.padStart(8)} ${'subs'.padStart(5)} ${'in/s'.padStart(9)} ${'out/s'.padStart(9)} ${'dropped'.padStart(8)} ${'pending'.padStart(9)}`));
  for (const row of busiestClients(current, previous).slice(0, Math.max(0, rows - lines.length - 1))) {
    lines.push(
      `  ${escapeControls(String(row.client.id)).padStart(5)}  ${escapeControls(String(row.client.name)).slice(0, 20).padEnd(20)} ${escapeControls(String(row.client.uid ?? '')).padStart(6)} ${escapeControls(String(row.client.pid ?? '')).padStart(8)} ${String(row.client.subscriptions).padStart(5)} ${number(row.inRate).padStart(9)} ${number(row.outRate).padStart(9)} ${styled(row.client.dropped, styles).padStart(8)} ${number(row.client.pendingBytes).padStart(9)}`,
    );
  }
  return lines.join('\n');
}

/** Clients by messages per second, in and out, busiest first. */
function busiestClients(current: Sample, previous: Sample | null) {
  const before = new Map((previous?.stats.clients ?? []).map((client) => [client.id, client]));
  const seconds = previous ? (current.atMs - previous.atMs) / 1000 : 0;
  const rateOf = (now: number, then: number | undefined) => (seconds > 0 && then !== undefined ? Math.max(0, (now - then) / seconds) : 0);
  return (current.stats.clients ?? [])
    .map((client) => ({
      client,
      inRate: rateOf(client.messagesIn, before.get(client.id)?.messagesIn),
      outRate: rateOf(client.messagesOut, before.get(client.id)?.messagesOut),
    }))
    .sort((a, b) => b.inRate + b.outRate - (a.inRate + a.outRate) || a.client.id - b.client.id);
}

function styled(count: number, styles: Styles): string {
  return count > 0 ? styles.mark(number(count)) : number(count);
}

function uptime(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours > 0 ? `${hours}h${String(minutes).padStart(2, '0')}m` : `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
}
