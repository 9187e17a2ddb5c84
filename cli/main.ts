#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { resolveBrokerTrust } from '../client/broker-trust.js';
import { SockbusError } from '../client/index.js';
import { assertPublishable, assertValidPattern, UsageError, VERSION } from '../protocol/index.js';
import { describeError, formatStats, formatTable, monitor, openClient, publish, reply, request, subscribe } from './commands.js';
import { toJsonText } from './json-lines.js';
import { escapeControls } from './terminal-escape.js';

const USAGE = `Usage: sockbus <command> [options]

Commands:
  pub TOPIC [DATA]    publish DATA (JSON if it parses, else a string; none: null)
                      DATA "-" publishes one message per line of standard input
  sub PATTERN         print each message: a coloured line on a terminal, else one
                      JSON line {"topic","data","headers"} (--json forces JSON)
                      PATTERN: tokens separated by ".", "*" one token, ">" the rest
  req TOPIC [DATA]    send a request, print the reply as {"data","headers"}
  reply PATTERN [DATA]
                      answer every request on PATTERN with DATA, printing each request
  clients             list the clients connected to the broker
  stats               print the broker's counters
  monitor             live counters: messages per second in and out, connections,
                      drops, the busiest clients; redrawn in place on a terminal,
                      one line per interval when piped

Options:
  --socket PATH       broker socket (default: $SOCKBUS_SOCKET, else /tmp/sockbus.sock)
  --count N           pub: send N times; sub: exit after N messages; reply: after N
                      answers; monitor: after N refreshes
  --header KEY=VALUE  pub, req: add a header (repeatable)
  --retain            pub: keep as the topic's last value for later subscribers
                      (publish null with --retain to clear it)
  --queue NAME        sub, reply: join queue group NAME, sharing its messages
  --timeout MS        req: how long to wait for the reply (default: 5000)
  --interval MS       monitor: time between refreshes (default: 1000)
  --name NAME         client name shown in the broker's stats
  --broker-uid USER   trust a broker running as USER (name or uid) besides root
                      and yourself (default: $SOCKBUS_BROKER_UID); any other is
                      refused before anything is sent to it
  --json              sub, stats, clients: print JSON instead of text
  -h, --help          show this help
  -v, --version       show the version
`;

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
  const count = values.count === undefined ? undefined : parsePositive('--count', values.count);
  const headers = parseHeaders(values.header ?? []);
  const brokerUid = values['broker-uid'];
  if (brokerUid !== undefined) resolveBrokerTrust(brokerUid, process.env, '--broker-uid'); // a name no user has is said before connecting
  const clientOptions = { path: values.socket, name: values.name ?? `sockbus ${command ?? ''}`.trim(), brokerUid };
  switch (command) {
    case 'pub': {
      const [topic, data] = expectArguments(rest, 1, 2, 'pub TOPIC [DATA]');
      assertPublishable(topic!); // before connecting, so a typo is reported as such even with no broker
      return publish(await openClient(clientOptions), topic!, data, count ?? 1, { headers, retain: values.retain });
    }
    case 'sub': {
      const [pattern] = expectArguments(rest, 1, 1, 'sub PATTERN');
      assertValidPattern(pattern);
      return subscribe(await openClient(clientOptions), pattern, { count, queue: values.queue, json: values.json });
    }
    case 'req': {
      const [topic, data] = expectArguments(rest, 1, 2, 'req TOPIC [DATA]');
      assertPublishable(topic!);
      const timeout = values.timeout === undefined ? undefined : parsePositive('--timeout', values.timeout);
      await request(await openClient(clientOptions), topic!, data, { headers, timeout });
      return 0;
    }
    case 'reply': {
      const [pattern, data] = expectArguments(rest, 1, 2, 'reply PATTERN [DATA]');
      assertValidPattern(pattern);
      return reply(await openClient(clientOptions), pattern, data, { count, queue: values.queue });
    }
    case 'monitor': {
      expectArguments(rest, 0, 0, 'monitor');
      const intervalMs = values.interval === undefined ? 1000 : parsePositive('--interval', values.interval);
      return monitor(await openClient(clientOptions), { intervalMs, count });
    }
    case 'stats':
    case 'clients': {
      expectArguments(rest, 0, 0, command);
      const client = await openClient(clientOptions);
      const stats = await client.brokerStats();
      await client.close();
      const shown = command === 'clients' ? stats.clients : stats;
      if (values.json) process.stdout.write(`${toJsonText(shown)}\n`);
      else process.stdout.write(command === 'clients' ? formatTable(stats.clients ?? []) : formatStats(stats));
      return 0;
    }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
  }
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
        retain: { type: 'boolean' },
        queue: { type: 'string' },
        timeout: { type: 'string' },
        interval: { type: 'string' },
        name: { type: 'string' },
        'broker-uid': { type: 'string' },
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

function parsePositive(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer, not "${text}"`);
  return value;
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
    const message = error instanceof SockbusError ? describeError(error) : (error as Error).stack ?? String(error);
    process.stderr.write(`sockbus: ${escapeControls(message)}\n`);
    process.exit(1);
  },
);
