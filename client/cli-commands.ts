import { createInterface } from 'node:readline';
import type { Client, Headers } from './index.js';
import { messageToJsonLine, parseData, toJsonLine } from './json-lines.js';

/** The work of each `sockbus` command once its arguments are checked and the client is connected. */

export async function publish(
  client: Client,
  topic: string,
  data: string | undefined,
  count: number,
  options: { headers?: Headers; retain?: boolean },
): Promise<void> {
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
}

/** Prints one JSON line per message until `count` messages or a signal; returns the exit code. */
export async function subscribe(client: Client, pattern: string, options: { count?: number; queue?: string }): Promise<number> {
  reportToStderr(client);
  let received = 0;
  for await (const message of client.subscribe(pattern, { queue: options.queue })) {
    process.stdout.write(`${messageToJsonLine(message)}\n`);
    if (options.count !== undefined && ++received >= options.count) break;
  }
  return finish(client);
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
  for await (const message of client.subscribe(pattern, { queue: options.queue })) {
    process.stdout.write(`${messageToJsonLine(message)}\n`);
    if (!message.isRequest) continue;
    message.respond(answer);
    if (options.count !== undefined && ++answered >= options.count) break;
  }
  await client.flush();
  return finish(client);
}

export function formatStats(stats: Record<string, unknown>): string {
  const { clients, ...counters } = stats;
  const lines = Object.entries(counters).map(([key, value]) => `${key.padEnd(20)} ${String(value)}`);
  const rows = (clients as Array<Record<string, unknown>> | undefined) ?? [];
  if (rows.length > 0) lines.push('', formatTable(rows).trimEnd());
  return `${lines.join('\n')}\n`;
}

/** Rows of objects as tab-separated columns under a header line. */
export function formatTable(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  const lines = [columns.join('\t'), ...rows.map((row) => columns.map((column) => String(row[column] ?? '')).join('\t'))];
  return `${lines.join('\n')}\n`;
}

/** Long-running commands say on stderr what happens to their connection, and stop cleanly on a signal. */
function reportToStderr(client: Client): void {
  client.on('disconnect', (reason) => process.stderr.write(`sockbus: disconnected: ${reason.message}; reconnecting\n`));
  client.on('reconnect', () => process.stderr.write('sockbus: reconnected\n'));
  client.on('dropped', (notice) => process.stderr.write(`sockbus: ${notice.count} message(s) dropped: ${notice.reason}\n`));
  client.on('error', (error) => process.stderr.write(`sockbus: ${error.code}: ${error.message}\n`));
  process.once('SIGINT', () => void client.close());
  process.once('SIGTERM', () => void client.close());
}

async function finish(client: Client): Promise<number> {
  await client.close();
  const failure = await client.closed;
  if (failure) throw failure;
  return 0;
}

