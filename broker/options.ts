import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_FRAME_BYTES, patternProblem, resolveSocketPath, topicProblem, UsageError } from '../protocol/index.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export type SlowConsumerPolicy = 'drop' | 'disconnect';

/**
 * What --bridge asks for. Defined here, not in the bridge: parsing options
 * must not load the bridge, which needs the optional `nats` package.
 */
export interface BridgeOptions {
  /** nats://HOST:PORT */
  url: string;
  /** Local patterns whose messages go to NATS. */
  exports: string[];
  /** NATS subjects whose messages are delivered to local subscribers. */
  imports: string[];
  /** Put in front of every exported subject (e.g. the machine's name), so machines can be told apart. */
  prefix: string | null;
}

/** Every limit the broker enforces, in one place. */
export interface BrokerLimits {
  /** Largest frame body accepted from a client, in bytes. */
  maxFrameBytes: number;
  /** Bytes that may wait in one connection's outbound buffer before messages for it are dropped. */
  maxPendingBytes: number;
  /** What happens to a subscriber whose outbound buffer is full. */
  slowConsumer: SlowConsumerPolicy;
  /** How long a closing connection may take to flush before it is cut. */
  closeTimeoutMs: number;
  /** How long a new connection may take to send hello. */
  handshakeTimeoutMs: number;
  /** How long a started frame may take to complete (slowloris guard). */
  frameTimeoutMs: number;
  /** A connection silent this long is pinged; silent twice this long, it is closed. */
  keepaliveMs: number;
  maxSubscriptionsPerConnection: number;
  maxConnections: number;
  /** Connections one uid may hold at once; 0 until sized (half of maxConnections unless given). */
  maxConnectionsPerUid: number;
  /** Topics with a retained value. */
  maxRetained: number;
  /** Bytes of all retained values together. */
  maxRetainedBytes: number;
  /** Requests one connection may have awaiting an answer; more fail with TOO_MANY_REQUESTS. */
  maxPendingRequests: number;
  /** How long the broker takes answers to a request. */
  requestLifetimeMs: number;
  /** Bytes all clients together may make the broker hold (buffers, subscriptions, retained values, state). */
  maxMemoryBytes: number;
  /** Bytes the clients of one uid together may make the broker hold. */
  maxMemoryPerUidBytes: number;
  /** Tokens in one pattern. */
  maxPatternTokens: number;
  /** `*` wildcards in one pattern: with the token bound, this bounds the work of matching a new topic. */
  maxPatternWildcards: number;
  /** Bytes of the patterns one connection subscribes to, together. */
  maxPatternBytesPerConnection: number;
  /** Bytes of the patterns one uid's connections subscribe to, together. */
  maxPatternBytesPerUid: number;
  /** Queue group subscriptions one uid's connections hold, together: each is visited on every publish its pattern matches. */
  maxQueueSubscriptionsPerUid: number;
}

export interface BrokerOptions {
  socketPath: string;
  /** Permission bits of the socket file. */
  mode: number;
  logLevel: LogLevel;
  /** How often to check that the socket file is still there and ours. */
  socketCheckMs: number;
  /** Where retained values are kept across restarts; none when unset. */
  statePath?: string;
  /** The access policy file; none means the open policy. */
  aclPath?: string;
  /** The group that owns the socket file (for --mode 0660 and the like). */
  group?: string;
  /** A NATS server to bridge to, and what crosses it. */
  bridge?: BridgeOptions;
  limits: BrokerLimits;
}

export const DEFAULT_MODE = 0o666;
export const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;

const DEFAULTS = {
  maxConnections: 10_000,
  maxSubscriptionsPerConnection: 10_000,
  handshakeTimeoutMs: 5000,
  frameTimeoutMs: 10_000,
  keepaliveMs: 30_000,
  closeTimeoutMs: 2000,
  socketCheckMs: 1000,
  /** Unset: half of --max-connections, so one user leaves room for others whatever it does. */
  maxConnectionsPerUid: 0,
  maxRetained: 10_000,
  maxRetainedBytes: 64 * 1024 * 1024,
  maxPendingRequests: 10_000,
  maxMemoryBytes: 1024 * 1024 * 1024,
  maxMemoryPerUidBytes: 128 * 1024 * 1024,
  maxPatternTokens: 16,
  maxPatternWildcards: 3,
  maxPatternBytesPerConnection: 256 * 1024,
  maxPatternBytesPerUid: 1024 * 1024,
  maxQueueSubscriptionsPerUid: 1000,
  requestLifetimeMs: 300_000,
};

export const USAGE = `Usage: sockbusd [options]

Runs the sockbus broker on a Unix domain socket.

Options:
  --socket PATH          socket path (default: $SOCKBUS_SOCKET, else /tmp/sockbus.sock)
  --mode MODE            permission bits of the socket file, octal (default: 0666)
  --group GROUP          group of the socket file, by name or gid (with --mode 0660:
                         only its members may connect)
  --acl FILE             access policy: who may publish and subscribe to what, by
                         user, group and uid (JSON; see SECURITY.md); SIGHUP reloads it
  --max-payload BYTES    largest frame a client may send (default: ${DEFAULT_MAX_FRAME_BYTES})
  --max-pending BYTES    outbound buffer per connection before messages are dropped
                         (default: ${DEFAULT_MAX_PENDING_BYTES})
  --slow-consumer POLICY drop (count and report the loss) or disconnect (default: drop)
  --max-connections N    connections served at once (default: ${DEFAULTS.maxConnections}, or
                         fewer when the limit on open files is lower)
  --max-connections-per-uid N
                         connections one user may hold at once (default: half
                         of --max-connections)
  --max-subscriptions N  subscriptions per connection (default: ${DEFAULTS.maxSubscriptionsPerConnection})
  --handshake-timeout MS time a new connection has to send hello (default: ${DEFAULTS.handshakeTimeoutMs})
  --frame-timeout MS     time a started frame has to complete (default: ${DEFAULTS.frameTimeoutMs})
  --keepalive MS         ping a connection silent this long, close it after twice
                         this long (default: ${DEFAULTS.keepaliveMs})
  --socket-check MS      how often to check the socket file is still there, and
                         re-create it if not (default: ${DEFAULTS.socketCheckMs})
  --state FILE           keep retained values in FILE across restarts (default: none)
  --max-retained N       topics that may hold a retained value (default: ${DEFAULTS.maxRetained})
  --max-retained-bytes BYTES
                         bytes all retained values may take (default: ${DEFAULTS.maxRetainedBytes})
  --max-requests N       requests one connection may have awaiting an answer; more
                         fail with TOO_MANY_REQUESTS (default: ${DEFAULTS.maxPendingRequests})
  --request-lifetime MS  how long answers to a request are taken (default: ${DEFAULTS.requestLifetimeMs})
  --max-memory BYTES     memory all clients together may make the broker hold:
                         buffers, subscriptions, retained values, connection
                         state (default: 1GiB)
  --max-memory-per-uid BYTES
                         the share of one user's clients together; past it that
                         user's messages drop and its new subscriptions and
                         connections are refused (default: 128MiB)
  --max-pattern-tokens N tokens in one subscription pattern (default: ${DEFAULTS.maxPatternTokens})
  --max-pattern-wildcards N
                         * wildcards in one pattern (default: ${DEFAULTS.maxPatternWildcards})
  --max-pattern-bytes BYTES
                         bytes of patterns one connection may hold (default: 256KiB)
  --max-pattern-bytes-per-uid BYTES
                         bytes of patterns one user's connections may hold (default: 1MiB)
  --max-queue-subscriptions-per-uid N
                         queue group subscriptions one user's connections may
                         hold (default: ${DEFAULTS.maxQueueSubscriptionsPerUid})
  --bridge URL           bridge to a NATS server (nats://HOST:PORT) for other machines
  --export PATTERN       bridge: send local messages matching PATTERN to NATS (repeatable)
  --import PATTERN       bridge: deliver NATS messages matching PATTERN here (repeatable)
  --bridge-prefix NAME   bridge: put NAME. in front of exported subjects (this machine's name)
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (default: info)
  -h, --help             show this help
  -v, --version          show the version
`;

export type ParsedCommand = { action: 'help' } | { action: 'version' } | { action: 'run'; options: BrokerOptions };

export function parseBrokerArguments(argv: string[], environment: NodeJS.ProcessEnv): ParsedCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        mode: { type: 'string' },
        'max-payload': { type: 'string' },
        'max-pending': { type: 'string' },
        'max-requests': { type: 'string' },
        'max-memory': { type: 'string' },
        'max-memory-per-uid': { type: 'string' },
        'max-pattern-tokens': { type: 'string' },
        'max-pattern-wildcards': { type: 'string' },
        'max-pattern-bytes': { type: 'string' },
        'max-pattern-bytes-per-uid': { type: 'string' },
        'max-queue-subscriptions-per-uid': { type: 'string' },
        'request-lifetime': { type: 'string' },
        'slow-consumer': { type: 'string' },
        'log-level': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-subscriptions': { type: 'string' },
        'handshake-timeout': { type: 'string' },
        'frame-timeout': { type: 'string' },
        keepalive: { type: 'string' },
        'socket-check': { type: 'string' },
        state: { type: 'string' },
        acl: { type: 'string' },
        group: { type: 'string' },
        'max-connections-per-uid': { type: 'string' },
        bridge: { type: 'string' },
        export: { type: 'string', multiple: true },
        import: { type: 'string', multiple: true },
        'bridge-prefix': { type: 'string' },
        'max-retained': { type: 'string' },
        'max-retained-bytes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };
  return {
    action: 'run',
    options: {
      socketPath: resolveSocketPath(values.socket, environment),
      mode: parseMode(values.mode),
      logLevel: parseChoice('--log-level', values['log-level'], LOG_LEVELS, 'info'),
      socketCheckMs: parseCount('--socket-check', values['socket-check'], DEFAULTS.socketCheckMs),
      statePath: values.state === undefined ? undefined : resolve(values.state),
      aclPath: values.acl === undefined ? undefined : resolve(values.acl),
      group: values.group,
      bridge: parseBridge(values),
      limits: {
        maxFrameBytes: parseByteCount('--max-payload', values['max-payload'], DEFAULT_MAX_FRAME_BYTES),
        maxPendingBytes: parseByteCount('--max-pending', values['max-pending'], DEFAULT_MAX_PENDING_BYTES),
        slowConsumer: parseChoice('--slow-consumer', values['slow-consumer'], ['drop', 'disconnect'] as const, 'drop'),
        closeTimeoutMs: DEFAULTS.closeTimeoutMs,
        handshakeTimeoutMs: parseCount('--handshake-timeout', values['handshake-timeout'], DEFAULTS.handshakeTimeoutMs),
        frameTimeoutMs: parseCount('--frame-timeout', values['frame-timeout'], DEFAULTS.frameTimeoutMs),
        keepaliveMs: parseCount('--keepalive', values.keepalive, DEFAULTS.keepaliveMs),
        maxSubscriptionsPerConnection: parseCount('--max-subscriptions', values['max-subscriptions'], DEFAULTS.maxSubscriptionsPerConnection),
        maxConnections: parseCount('--max-connections', values['max-connections'], DEFAULTS.maxConnections),
        maxConnectionsPerUid: parseCount('--max-connections-per-uid', values['max-connections-per-uid'], DEFAULTS.maxConnectionsPerUid),
        maxRetained: parseCount('--max-retained', values['max-retained'], DEFAULTS.maxRetained),
        maxRetainedBytes: parseByteCount('--max-retained-bytes', values['max-retained-bytes'], DEFAULTS.maxRetainedBytes),
        maxPendingRequests: parseCount('--max-requests', values['max-requests'], DEFAULTS.maxPendingRequests),
        requestLifetimeMs: parseCount('--request-lifetime', values['request-lifetime'], DEFAULTS.requestLifetimeMs),
        maxMemoryBytes: parseByteCount('--max-memory', values['max-memory'], DEFAULTS.maxMemoryBytes),
        maxMemoryPerUidBytes: parseByteCount('--max-memory-per-uid', values['max-memory-per-uid'], DEFAULTS.maxMemoryPerUidBytes),
        maxPatternTokens: parseCount('--max-pattern-tokens', values['max-pattern-tokens'], DEFAULTS.maxPatternTokens),
        maxPatternWildcards: parseCount('--max-pattern-wildcards', values['max-pattern-wildcards'], DEFAULTS.maxPatternWildcards),
        maxPatternBytesPerConnection: parseByteCount('--max-pattern-bytes', values['max-pattern-bytes'], DEFAULTS.maxPatternBytesPerConnection),
        maxPatternBytesPerUid: parseByteCount('--max-pattern-bytes-per-uid', values['max-pattern-bytes-per-uid'], DEFAULTS.maxPatternBytesPerUid),
        maxQueueSubscriptionsPerUid: parseCount('--max-queue-subscriptions-per-uid', values['max-queue-subscriptions-per-uid'], DEFAULTS.maxQueueSubscriptionsPerUid),
      },
    },
  };
}

function parseMode(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MODE;
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`--mode must be three octal digits such as 0666 or 0660, not "${text}"`);
  return parseInt(text, 8);
}

function parseByteCount(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+)([kKmMgG]i?[bB]?)?$/.exec(text);
  if (!match) throw new UsageError(`${flag} must be a number of bytes such as 1048576, 1MiB or 1GiB, not "${text}"`);
  const unit = match[2]?.[0]?.toLowerCase();
  const bytes = Number(match[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  if (bytes < 64 || bytes > 0xffffffff) throw new UsageError(`${flag} must be between 64 bytes and 4 GiB, not "${text}"`);
  return bytes;
}

function parseCount(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const count = Number(text);
  if (!/^\d+$/.test(text) || count < 1 || !Number.isSafeInteger(count)) {
    throw new UsageError(`${flag} must be a positive whole number, not "${text}"`);
  }
  return count;
}

function parseChoice<T extends string>(flag: string, text: string | undefined, choices: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${flag} must be one of ${choices.join(', ')}, not "${text}"`);
  }
  return text as T;
}

function parseBridge(values: { bridge?: string; export?: string[]; import?: string[]; 'bridge-prefix'?: string }): BridgeOptions | undefined {
  const { bridge: url, export: exports = [], import: imports = [], 'bridge-prefix': prefix } = values;
  if (url === undefined) {
    if (exports.length || imports.length || prefix !== undefined) throw new UsageError('--export, --import and --bridge-prefix need --bridge URL');
    return undefined;
  }
  if (!/^nats:\/\/[^\s/]+$/.test(url)) throw new UsageError(`--bridge must look like nats://HOST:PORT, not "${url}"`);
  if (exports.length === 0 && imports.length === 0) throw new UsageError('--bridge needs at least one --export or --import pattern');
  for (const pattern of [...exports, ...imports]) {
    const problem = patternProblem(pattern);
    if (problem) throw new UsageError(`--export/--import: ${problem}`);
  }
  if (prefix !== undefined && (topicProblem(prefix) || prefix.startsWith('$'))) {
    throw new UsageError(`--bridge-prefix must be one or more topic tokens such as "host1" or "site.host1", not "${prefix}"`);
  }
  return { url, exports, imports, prefix: prefix ?? null };
}
