import { createInterface } from 'node:readline';
import { BROKER_UID_ENVIRONMENT_VARIABLE, untrustedBrokerMessage, UntrustedBrokerError } from '../client/broker-trust.js';
import { Client, type BrokerStats, type ClientOptions, type Headers, type Message, type SockbusError } from '../client/index.js';
import { messageToJsonLine, parseData, toJsonLine } from './json-lines.js';
import { LINE_HEADER, monitorLine, monitorScreen, type Sample } from './monitor.js';
import { escapeControls } from './terminal-escape.js';
import { messageToTerminalLine, stylesFor, wantsColor } from './terminal-format.js';

/** The work of each `sockbus` command once its arguments are checked and the client is connected. */

/** Connects like `connect()`, saying on stderr what works less well than it should (the broker checked without the addon). */
export async function openClient(options: ClientOptions): Promise<Client> {
  const client = new Client(options);
  client.on('warning', (warning) => process.stderr.write(`sockbus: warning: ${describeError(warning)}\n`));
  await client.started;
  return client;
}

/**
 * An error's message as the command line says it: options by their flag
 * names, and controls escaped, since a message can quote a peer (a
 * responder's error, a topic, the broker's reason for going away).
 */
export function describeError(error: SockbusError): string {
  if (error instanceof UntrustedBrokerError) {
    return escapeControls(untrustedBrokerMessage(error.path, error.broker, error.trust, { option: '--broker-uid', environment: `$${BROKER_UID_ENVIRONMENT_VARIABLE}` }));
  }
  return escapeControls(error.message);
}

export async function publish(
  client: Client,
  topic: string,
  data: string | undefined,
  count: number,
  options: { headers?: Headers; retain?: boolean },
): Promise<number> {
  // The broker answers a refused publish (access denied, retained store full) with an error: say so and fail.
  const refusals = new Set<string>();
  client.on('error', (error: SockbusError) => {
    const line = `sockbus: ${escapeControls(error.code)}: ${describeError(error)}\n`;
    // With --count, the same refusal comes once per copy: say it once.
    if (!refusals.has(line)) process.stderr.write(line);
    refusals.add(line);
  });
  if (data === '-') {
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      for (let sent = 0; sent < count; sent++) client.publish(topic, parseData(line), options);
    }
  } else {
    const value = data === undefined ? null : parseData(data);
    for (let sent = 0; sent < count; sent++) client.publish(topic, value, options);
  }
  await client.flush();
  await client.close();
  return refusals.size > 0 ? 1 : 0;
}

/**
 * Prints each message until `count` messages or a signal: a coloured line
 * for people on a terminal, one JSON line otherwise (or with --json).
 * Resolves with the exit code.
 */
export async function subscribe(client: Client, pattern: string, options: { count?: number; queue?: string; json?: boolean }): Promise<number> {
  reportToStderr(client);
  const styles = options.json || !process.stdout.isTTY ? null : stylesFor(wantsColor(process.stdout, process.env));
  let received = 0;
  return consume(client, client.subscribe(pattern, { queue: options.queue }), (message) => {
    process.stdout.write(`${styles ? messageToTerminalLine(message, styles) : messageToJsonLine(message)}\n`);
    return options.count !== undefined && ++received >= options.count;
  });
}

/** Sends one request and prints the reply as `{"data","headers"}`; a failed request rejects with its error. */
export async function request(client: Client, topic: string, data: string | undefined, options: { headers?: Headers; timeout?: number }): Promise<void> {
  try {
    const reply = await client.request(topic, data === undefined ? null : parseData(data), options);
    process.stdout.write(`${toJsonLine({ data: reply.data ?? null, headers: reply.headers ?? {} })}\n`);
  } finally {
    // A failed request is an answer too: leave cleanly, not like a crash.
    await client.close();
  }
}

/** Answers every request on the pattern with the same data, printing each request, until `count` answers. */
export async function reply(client: Client, pattern: string, data: string | undefined, options: { count?: number; queue?: string }): Promise<number> {
  reportToStderr(client);
  const answer = data === undefined ? null : parseData(data);
  let answered = 0;
  return consume(client, client.subscribe(pattern, { queue: options.queue }), (message) => {
    process.stdout.write(`${messageToJsonLine(message)}\n`);
    if (!message.isRequest) return false;
    message.respond(answer);
    return options.count !== undefined && ++answered >= options.count;
  });
}

/**
 * Live counters every `intervalMs`: on a terminal a screen redrawn in place,
 * like top; otherwise one line per interval after a header, like vmstat.
 * Stops after `count` screens or lines, or on a signal.
 */
export async function monitor(client: Client, options: { intervalMs: number; count?: number }): Promise<number> {
  const terminal = Boolean(process.stdout.isTTY);
  const styles = stylesFor(terminal && wantsColor(process.stdout, process.env));
  let wake: (() => void) | null = null;
  let stopped = false;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(terminal ? HIDE_CURSOR : `${LINE_HEADER}\n`);
  let previous: Sample | null = null;
  try {
    for (let shown = 0; !stopped && (options.count === undefined || shown < options.count); ) {
      const sample: Sample = { atMs: Date.now(), stats: await client.brokerStats() };
      if (terminal) {
        process.stdout.write(`${CLEAR_SCREEN}${monitorScreen(sample, previous, styles, process.stdout.rows || 24)}\n`);
        shown++;
      } else if (previous) {
        // A line needs two samples for its rates; the first is only the baseline.
        process.stdout.write(`${monitorLine(sample, previous)}\n`);
        shown++;
      }
      previous = sample;
      if (options.count !== undefined && shown >= options.count) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    if (terminal) process.stdout.write(SHOW_CURSOR);
  }
  await client.close();
  return 0;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

export function formatStats(stats: BrokerStats): string {
  const { clients = [], users = [], ...counters } = stats;
  const lines = flatten(counters).map(([key, value]) => `${escapeControls(key).padEnd(22)} ${escapeControls(value)}`);
  // Per user: what its clients hold against its memory share, and what they lost.
  if (users.length > 0) lines.push('', formatTable(users).trimEnd());
  if (clients.length > 0) lines.push('', formatTable(clients).trimEnd());
  return `${lines.join('\n')}\n`;
}

/** A section such as the bridge's as `bridge.connected` lines; lists joined with commas. */
function flatten(values: object, prefix = ''): Array<[string, string]> {
  return Object.entries(values).flatMap(([key, value]): Array<[string, string]> => {
    if (Array.isArray(value)) return [[prefix + key, value.join(', ')]];
    if (value !== null && typeof value === 'object') return flatten(value as object, `${prefix}${key}.`);
    return [[prefix + key, String(value)]];
  });
}

/** Rows of objects as tab-separated columns under a header line; a tab or newline in a name is escaped, so it cannot add a column or a row. */
export function formatTable(rows: readonly object[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  const cell = (value: unknown) => escapeControls(String(value ?? ''));
  const lines = [columns.map(cell).join('\t'), ...rows.map((row) => columns.map((column) => cell((row as Record<string, unknown>)[column])).join('\t'))];
  return `${lines.join('\n')}\n`;
}

/** Errors already printed by reportToStderr, so they are not printed twice when they also end the command. */
const reported = new WeakSet<Error>();

/** Long-running commands say on stderr what happens to their connection, and stop cleanly on a signal. */
function reportToStderr(client: Client): void {
  client.on('disconnect', (reason) => process.stderr.write(`sockbus: disconnected: ${describeError(reason)}; reconnecting\n`));
  client.on('reconnect', () => process.stderr.write('sockbus: reconnected\n'));
  client.on('dropped', (notice) => process.stderr.write(`sockbus: ${notice.count} message(s) dropped: ${escapeControls(notice.reason)}\n`));
  client.on('error', (error) => {
    reported.add(error);
    process.stderr.write(`sockbus: ${escapeControls(error.code)}: ${describeError(error)}\n`);
  });
  process.once('SIGINT', () => void client.close());
  process.once('SIGTERM', () => void client.close());
}

/** Hands each message to `each` until it asks to stop (returns true) or the subscription ends; resolves with the exit code. */
async function consume(client: Client, subscription: AsyncIterable<Message>, each: (message: Message) => boolean): Promise<number> {
  try {
    for await (const message of subscription) if (each(message)) break;
  } catch (error) {
    // The broker ended the subscription (refused it, or a reloaded policy revoked it).
    await client.close();
    if (reported.has(error as Error)) return 1;
    throw error;
  }
  await client.flush().catch(() => undefined); // answers given are on their way before closing
  return finish(client);
}

async function finish(client: Client): Promise<number> {
  await client.close();
  const failure = await client.closed;
  if (failure) throw failure;
  return 0;
}

