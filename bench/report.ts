import type { SystemName } from './adapters.js';
import type { MemoryResult, RunResult } from './scenarios.js';

export interface SystemResults {
  scenarios: Record<string, RunResult>;
  memory: MemoryResult | null;
  errors: Record<string, string>;
}

export interface BenchReport {
  date: string;
  quick: boolean;
  /** flow-controlled: a flush every flowBytes of payload, waiting for the previous one; unbounded: a fire-hose. */
  mode: 'flow-controlled' | 'unbounded';
  flowBytes: number;
  runsPerFigure: number;
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string; node: string };
  versions: Partial<Record<SystemName, string>>;
  skipped: Partial<Record<SystemName, string>>;
  scenarios: Array<{ id: string; title: string }>;
  results: Partial<Record<SystemName, SystemResults>>;
}

const ORDER: SystemName[] = ['raw', 'sockbus', 'sockbus-c', 'redis', 'mosquitto', 'nats'];
const PEERS: SystemName[] = ['raw', 'redis', 'mosquitto', 'nats'];
const LABELS: Record<SystemName, string> = { raw: 'raw', sockbus: 'sockbus', 'sockbus-c': 'sockbus (C clients)', redis: 'redis', mosquitto: 'mosquitto', nats: 'nats' };
/** The CPU table's name for each scenario. */
const SHORT_TITLES: Record<string, string> = {
  a: '(a) 1 → 1',
  b: '(b) 1 → 10 fan-out',
  c: '(c) 10 → 1 fan-in',
  d: '(d) 5,000 msgs/s',
  e: '(e) 4 KiB 1 → 1',
  f10: '(f) 10 unrelated subscriptions',
  f1000: '(f) 1,000',
  f10000: '(f) 10,000',
};

interface Row {
  label: string;
  value(results: SystemResults): number | undefined;
  /** Whether a larger figure is better; ratios are always sockbus ÷ other. */
  higherIsBetter: boolean;
  decimals?: number;
  lost?(results: SystemResults): number;
}

const throughput = (id: string, label: string): Row => ({
  label,
  value: (results) => results.scenarios[id]?.perSecond,
  higherIsBetter: true,
  lost: (results) => results.scenarios[id]?.lost ?? 0,
});
const latency = (key: 'p50' | 'p99' | 'max'): Row => ({
  label: `(d) latency ${key} at 5,000 msgs/s, µs`,
  value: (results) => results.scenarios['d']?.latencyMicros?.[key],
  higherIsBetter: false,
  lost: (results) => results.scenarios['d']?.lost ?? 0,
});
const memory = (label: string, pick: (memory: MemoryResult) => number, decimals = 1): Row => ({
  label,
  value: (results) => (results.memory ? pick(results.memory) : undefined),
  higherIsBetter: false,
  decimals,
});

const ROWS: Row[] = [
  throughput('a', '(a) 1 → 1, msgs/s'),
  throughput('b', '(b) 1 → 10 fan-out, deliveries/s'),
  throughput('c', '(c) 10 → 1 fan-in, msgs/s'),
  latency('p50'),
  latency('p99'),
  latency('max'),
  throughput('e', '(e) 4 KiB 1 → 1, msgs/s'),
  { label: '(e) 4 KiB 1 → 1, MB/s', value: (results) => results.scenarios['e']?.megabytesPerSecond, higherIsBetter: true, decimals: 1 },
  throughput('f10', '(f) 1 → 1 with 10 unrelated subscriptions, msgs/s'),
  throughput('f1000', '(f) … with 1,000, msgs/s'),
  throughput('f10000', '(f) … with 10,000, msgs/s'),
  { label: 'server CPU per delivery in (a), µs', value: (results) => results.scenarios['a']?.serverCpuMicrosPerDelivery, higherIsBetter: false, decimals: 2 },
  memory('(g) server RSS idle, MiB', (result) => result.idleBytes / 2 ** 20),
  memory('(g) with idle clients × 5 subscriptions, MiB', (result) => result.loadedBytes / 2 ** 20),
  memory('(g) per idle connection, KiB', (result) => result.perConnectionBytes / 1024),
  memory('(g) after the clients left, MiB', (result) => result.afterBytes / 2 ** 20),
];

function formatValue(value: number | undefined, decimals = 0): string {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function renderTable(report: BenchReport): string {
  const systems = ORDER.filter((system) => report.results[system]);
  const ratioPeers = PEERS.filter((system) => report.results[system]);
  const header = ['scenario', ...systems.map((system) => LABELS[system]), ...ratioPeers.map((peer) => `sockbus ÷ ${peer}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of ROWS) {
    const cells = systems.map((system) => {
      const results = report.results[system]!;
      const lost = row.lost?.(results) ?? 0;
      return `${formatValue(row.value(results), row.decimals)}${lost > 0 ? ` (lost ${lost.toLocaleString('en-US')})` : ''}`;
    });
    const sockbus = report.results.sockbus ? row.value(report.results.sockbus) : undefined;
    const ratios = ratioPeers.map((peer) => {
      const other = row.value(report.results[peer]!);
      return sockbus !== undefined && other ? (sockbus / other).toFixed(2) : 'n/a';
    });
    lines.push(`| ${[row.label, ...cells, ...ratios].join(' | ')} |`);
  }
  const cpuHeader = ['CPU % of one core: publishers / broker / subscribers (others)', ...systems.map((system) => LABELS[system])];
  const cpuLines = [`| ${cpuHeader.join(' | ')} |`, `|${cpuHeader.map(() => '---').join('|')}|`];
  for (const { id } of report.scenarios) {
    const cells = systems.map((system) => {
      const cpu = report.results[system]!.scenarios[id]?.cpuPercent;
      return cpu ? `${[cpu.publishers, cpu.broker, cpu.subscribers].map((value) => value.toFixed(0)).join(' / ')} (${cpu.others.toFixed(0)})` : 'n/a';
    });
    cpuLines.push(`| ${[SHORT_TITLES[id] ?? id, ...cells].join(' | ')} |`);
  }
  const mode =
    report.mode === 'unbounded'
      ? 'Publishers: unbounded (--unbounded), no flow control.'
      : `Publishers: flow-controlled, a flush every ${report.flowBytes / 1024} KiB of payload, waiting for the previous one (at most about ${(2 * report.flowBytes) / 2 ** 20} MiB unconfirmed).`;
  const versions = Object.entries(report.versions).map(([system, version]) => `${system}: ${version}`).join('; ');
  const skipped = Object.entries(report.skipped).map(([system, reason]) => `${system} (${reason})`).join('; ');
  const { machine } = report;
  return [
    `sockbus benchmark, ${report.date.slice(0, 10)}${report.quick ? ' (quick mode: smaller runs, one run per figure)' : `, median of ${report.runsPerFigure} runs per figure`}`,
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node.js ${machine.node}`,
    `Versions: ${versions}`,
    skipped ? `Skipped: ${skipped}` : '',
    mode,
    'Ratios are sockbus ÷ the other system: above 1 is better for sockbus on throughput, below 1 on latency, CPU and memory.',
    '',
    ...lines,
    '',
    'CPU share per process over each run\'s window (the publishers\' start to the last delivery), in percent of one core, summed over the processes of a role (10 subscribers in (b), 10 publishers in (c)); in brackets, everything else the machine ran meanwhile (the orchestrator included). A row where nobody is near 100 while the others take little is a stall.',
    '',
    ...cpuLines,
    '',
  ]
    .filter((line, index) => line !== '' || index > 5)
    .join('\n');
}

/** A grouped bar chart of the throughput scenarios, as SVG, readable in any browser. */
export function renderChart(report: BenchReport): string {
  const systems = ORDER.filter((system) => report.results[system]);
  const groups = ROWS.filter((row) => row.higherIsBetter && !row.label.includes('MB/s'));
  const colors: Record<SystemName, string> = { raw: '#9e9e9e', sockbus: '#1565c0', 'sockbus-c': '#64b5f6', redis: '#c62828', mosquitto: '#6a1b9a', nats: '#2e7d32' };
  const barHeight = 14;
  const groupHeight = systems.length * barHeight + 34;
  const width = 900;
  const left = 250;
  const parts: string[] = [];
  groups.forEach((row, groupIndex) => {
    const top = 40 + groupIndex * groupHeight;
    const values = systems.map((system) => row.value(report.results[system]!) ?? 0);
    const max = Math.max(1, ...values);
    parts.push(`<text x="10" y="${top + 12}" font-weight="bold">${escapeXml(row.label)}</text>`);
    systems.forEach((system, index) => {
      const y = top + 20 + index * barHeight;
      const barWidth = ((width - left - 120) * values[index]!) / max;
      parts.push(`<text x="${left - 10}" y="${y + 11}" text-anchor="end">${escapeXml(LABELS[system])}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${barWidth.toFixed(1)}" height="${barHeight - 3}" fill="${colors[system]}"/>`);
      parts.push(`<text x="${left + barWidth + 6}" y="${y + 11}">${formatValue(values[index])}</text>`);
    });
  });
  const height = 50 + groups.length * groupHeight;
  const title = `sockbus vs. peers, ${report.date.slice(0, 10)}${report.quick ? ' (quick)' : ''}, ${report.mode} publishers: messages per second, longer is better`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
