import type { Verdict } from './attack.js';
import type { PairResult } from './pair.js';

/** One attack's line of the table. */
export interface Row {
  name: string;
  title: string;
  verdict: Verdict;
  /** null when no broker got as far as listening (it refused to start, which some attacks want). */
  brokerAlive: boolean | null;
  peakRssMiB: number | null;
  /** The first well-behaved pair of the attack; null when it ran none. */
  pair: PairResult | null;
  notes: string[];
  /** The row's own figures (broker CPU, cost per publish, refusals per user), by label. */
  figures: Record<string, string | number>;
  seconds: number;
}

export interface AttackReport {
  date: string;
  quick: boolean;
  node: string;
  seconds: number;
  rows: Row[];
}

export function heldCell(verdict: Verdict): string {
  if ('skipped' in verdict) return `skipped: ${verdict.skipped}`;
  return verdict.held ? 'yes' : `no: ${verdict.reason}`;
}

/** Whether any attack got through: the run's exit status. */
export function anyNotHeld(rows: Row[]): boolean {
  return rows.some((row) => !('skipped' in row.verdict) && !row.verdict.held);
}

const yesNo = (value: boolean | null) => (value === null ? 'n/a' : value ? 'yes' : 'no');
const figure = (value: number | null | undefined, digits = 1) => (value === null || value === undefined ? 'n/a' : value.toFixed(digits));

function cells(row: Row): string[] {
  const pair = row.pair;
  return [
    row.name,
    heldCell(row.verdict),
    yesNo(row.brokerAlive),
    figure(row.peakRssMiB),
    pair ? `${pair.lost}/${pair.sent}` : 'n/a',
    pair ? `${figure(pair.p50, 2)} / ${figure(pair.p99, 2)}` : 'n/a',
    figure(row.seconds),
    Object.entries(row.figures ?? {}).map(([label, value]) => `${label} ${value}`).join('; '),
  ];
}

const HEADER = ['attack', 'held', 'broker alive', 'broker peak RSS MiB', 'pair lost/sent', 'pair ping p50 / p99 ms', 'seconds', 'figures'];

export function renderMarkdown(report: AttackReport): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `# sockbus attack suite${report.quick ? ' (quick)' : ''}`,
    '',
    `${report.date}, node ${report.node}, ${report.seconds} s. \`npm run attack\`; details per attack in the JSON beside this file.`,
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...report.rows.map((row) => `| ${cells(row).map(escape).join(' | ')} |`),
    '',
    ...report.rows.map((row) => `- **${row.name}**: ${row.title}${row.notes.length ? ` (${row.notes.join('; ')})` : ''}`),
    '',
  ];
  return lines.join('\n');
}

/** The table for the terminal: one line per attack, the reason cut to fit. */
export function renderConsoleLine(row: Row): string {
  const [name, heldText, alive, rss, lost, ping, seconds, figures] = cells(row);
  const figureLine = figures ? `\n${''.padEnd(20)} ${figures}` : '';
  return `${name!.padEnd(20)} held ${heldText!.slice(0, 150)}\n${''.padEnd(20)} broker alive ${alive}, peak RSS ${rss} MiB, pair lost ${lost}, ping p50/p99 ${ping} ms, ${seconds} s${figureLine}`;
}
