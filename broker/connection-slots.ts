import type { Logger } from './log.js';
import type { BrokerLimits } from './options.js';

/** Descriptors kept for everything but clients: the listening socket, the state file, the bridge, logs. */
const RESERVED_DESCRIPTORS = 64;

/**
 * Sizes the connection limits to what the process can open. A broker that
 * accepted more connections than it has descriptors for would fail in
 * accept (EMFILE) for everyone, the next user included, instead of
 * refusing the user who holds the most with a clear error. `fileLimit` is
 * the soft limit after raising it to the hard one (null: unknown).
 */
export function sizeConnectionLimits(limits: BrokerLimits, fileLimit: number | null, log: Logger): BrokerLimits {
  let { maxConnections } = limits;
  if (fileLimit !== null && maxConnections > fileLimit - RESERVED_DESCRIPTORS) {
    const fitting = Math.max(1, fileLimit - RESERVED_DESCRIPTORS);
    log.info(`serving at most ${fitting} connections: the limit on open files is ${fileLimit} (raise it with ulimit -n or LimitNOFILE=), ${RESERVED_DESCRIPTORS} kept for the broker itself`);
    maxConnections = fitting;
  }
  const maxConnectionsPerUid = limits.maxConnectionsPerUid || Math.ceil(maxConnections / 2);
  return { ...limits, maxConnections, maxConnectionsPerUid };
}
