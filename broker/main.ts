#!/usr/bin/env -S node --max-semi-space-size=1
// The young generation is held to 1 MiB semi-spaces: left to grow to 16 MiB
// after a burst (a thousand clients connecting), it kept its pages, and an
// idle connection cost 27 KiB instead of 14 (bench (g)); throughput in
// bench (a) did not change measurably. Every way of starting sockbusd
// (the bin, npm start, the bench) runs it with this line's flags.
import { ErrorCode, SockbusError, UsageError, VERSION } from '../protocol/index.js';
import { Broker } from './broker.js';
import { sizeConnectionLimits } from './connection-slots.js';
import { CredentialReader } from './credentials.js';
import { Logger } from './log.js';
import { takeActivationSocket } from './socket-activation.js';
import { parseBrokerArguments, USAGE } from './options.js';

/** Resolves with an exit code, or with undefined while the broker keeps running. */
async function main(): Promise<number | undefined> {
  let command;
  try {
    command = parseBrokerArguments(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockbusd: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (command.action === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.action === 'version') {
    process.stdout.write(`sockbusd ${VERSION}\n`);
    return 0;
  }
  const { options } = command;
  const log = new Logger(options.logLevel);
  const credentials = CredentialReader.load();
  if (!credentials.available) {
    // Fail closed: a policy that cannot be enforced must not look enforced.
    if (options.aclPath) {
      throw new SockbusError(
        ErrorCode.CredentialsUnavailable,
        `--acl needs peer credentials, which are unavailable here (${credentials.unavailableReason}); refusing to start rather than run without access control`,
      );
    }
    log.warn(`peer credentials are unavailable (${credentials.unavailableReason}): messages carry no sender, and any client may read $SYS. topics`);
  }
  // Loaded only for --bridge, and before listening: without the optional nats package the broker says how to install it and does not start.
  const startBridge = options.bridge ? await (await import('./bridge/nats-bridge.js')).prepareBridge(options.bridge, log) : null;
  const limits = sizeConnectionLimits(options.limits, credentials.raiseFileLimit(), log);
  const broker = new Broker({ ...options, limits }, log, credentials);
  const activatedFd = takeActivationSocket(process.env, process.pid);
  const servedPath = await broker.listen(activatedFd);
  const bridge = startBridge ? await startBridge(servedPath) : null;
  if (bridge) broker.addStatsSection('bridge', () => bridge.snapshot());
  process.on('SIGHUP', () => broker.reloadPolicy());
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, shutting down`);
    // The bridge first: its local client would otherwise try to reconnect to a broker going away.
    Promise.resolve(bridge?.stop())
      .then(() => broker.shutdown(`broker stopped by ${signal}`))
      .then(
        () => process.exit(0),
        (error) => {
          log.error(`shutdown failed: ${(error as Error).message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Only now say we listen: whoever waits for this line may signal us at once.
  const how = activatedFd === null ? `mode ${options.mode.toString(8).padStart(4, '0')}` : `socket fd ${activatedFd} from systemd`;
  process.stdout.write(`sockbusd ${VERSION} listening on ${servedPath} (${how}, pid ${process.pid})\n`);
  return undefined;
}

main().then(
  (exitCode) => {
    if (exitCode !== undefined) process.exitCode = exitCode;
  },
  (error: unknown) => {
    const message = error instanceof SockbusError ? error.message : (error as Error).stack ?? String(error);
    process.stderr.write(`sockbusd: ${message}\n`);
    process.exit(1);
  },
);
