#!/usr/bin/env node
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { assertPublishable, assertValidPattern, VERSION } from '../protocol/index.js';
import { connect, SockbusError, type Client } from './index.js';
import { messageToJsonLine, parseData } from './json-lines.js';

const USAGE = `Usage: sockbus <command> [options]

Commands:
  pub TOPIC [DATA]    publish DATA (JSON if it parses, else a string; none: null)
                      DATA "-" publishes one message per line of standard input
  sub PATTERN         print one JSON line per message: {"topic","data","headers"}
                      PATTERN: tokens separated by ".", "*" one token, ">" the rest
  stats               print the broker's counters

Options:
  --socket PATH       broker socket (default: $SOCKBUS_SOCKET, else /tmp/sockbus.sock)
  --count N           pub: send N times; sub: exit after N messages
  --header KEY=VALUE  pub: add a header (repeatable)
  --name NAME         client name shown in the broker's stats
  --json              stats: print JSON instead of text
  -h, --help          show this help
  -v, --version       show the version
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`sockbus ${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  const count = values.count === undefined ? undefined : parseCount(values.count);
  const clientOptions = { path: values.socket, name: values.name ?? `sockbus ${command ?? ''}`.trim() };
  switch (command) {
    case 'pub': {
      const [topic, data] = expectArguments(rest, 1, 2, 'pub TOPIC [DATA]');
      assertPublishable(topic!); // before connecting, so a typo is reported as such even with no broker
      const client = await connect(clientOptions);
      await publish(client, topic!, data, count ?? 1, parseHeaders(values.header ?? []));
      return 0;
    }
    case 'sub': {
      const [pattern] = expectArguments(rest, 1, 1, 'sub PATTERN');
      assertValidPattern(pattern);
      const client = await connect(clientOptions);
      return subscribe(client, pattern!, count);
    }
    case 'stats': {
      expectArguments(rest, 0, 0, 'stats');
      const client = await connect(clientOptions);
      const stats = await client.brokerStats();
      await client.close();
      process.stdout.write(values.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats));
      return 0;
    }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
  }
}

async function publish(client: Client, topic: string, data: string | undefined, count: number, headers: Record<string, string> | undefined): Promise<void> {
  const options = headers ? { headers } : {};
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

async function subscribe(client: Client, pattern: string, count: number | undefined): Promise<number> {
  client.on('disconnect', (reason) => process.stderr.write(`sockbus: disconnected: ${reason.message}; reconnecting\n`));
  client.on('reconnect', () => process.stderr.write('sockbus: reconnected\n'));
  client.on('dropped', (notice) => process.stderr.write(`sockbus: ${notice.count} message(s) dropped: ${notice.reason}\n`));
  client.on('error', (error) => process.stderr.write(`sockbus: ${error.code}: ${error.message}\n`));
  process.once('SIGINT', () => void client.close());
  process.once('SIGTERM', () => void client.close());
  let received = 0;
  for await (const message of client.subscribe(pattern)) {
    process.stdout.write(`${messageToJsonLine(message)}\n`);
    if (count !== undefined && ++received >= count) break;
  }
  await client.close();
  const failure = await client.closed;
  if (failure) throw failure;
  return 0;
}

function formatStats(stats: Record<string, unknown>): string {
  const { clients, ...counters } = stats;
  const lines = Object.entries(counters).map(([key, value]) => `${key.padEnd(18)} ${String(value)}`);
  const rows = (clients as Array<Record<string, unknown>> | undefined) ?? [];
  if (rows.length > 0) {
    const columns = Object.keys(rows[0]!);
    lines.push('', columns.join('\t'), ...rows.map((row) => columns.map((column) => String(row[column] ?? '')).join('\t')));
  }
  return `${lines.join('\n')}\n`;
}

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string' },
        count: { type: 'string' },
        header: { type: 'string', multiple: true },
        name: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function expectArguments(rest: string[], min: number, max: number, usage: string): string[] {
  if (rest.length < min || rest.length > max) throw new UsageError(`usage: sockbus ${usage}`);
  return rest;
}

function parseCount(text: string): number {
  const count = Number(text);
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`--count must be a positive integer, not "${text}"`);
  return count;
}

function parseHeaders(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const separator = pair.indexOf('=');
    if (separator < 1) throw new UsageError(`--header must look like KEY=VALUE, not "${pair}"`);
    headers[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return headers;
}

// `sockbus sub ... | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then(
  (exitCode) => {
    process.exitCode = exitCode;
  },
  (error: unknown) => {
    // Exit now: an open connection would otherwise keep a failed command alive.
    if (error instanceof UsageError) {
      process.stderr.write(`sockbus: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    const message = error instanceof SockbusError ? error.message : (error as Error).stack ?? String(error);
    process.stderr.write(`sockbus: ${message}\n`);
    process.exit(1);
  },
);
