import { resolveSocketPath } from '../protocol/index.js';
import { exponentialBackoff, type ReconnectPolicy } from './backoff.js';
import { resolveBrokerTrust, type BrokerTrust } from './broker-trust.js';

export interface ClientOptions {
  /** Socket path of the broker. @default $SOCKBUS_SOCKET, else /tmp/sockbus.sock */
  path?: string;
  /** Shown by the broker in stats and logs. @default '' */
  name?: string;
  /** Do not receive this client's own publishes. @default false */
  noEcho?: boolean;
  /** Keep trying when no broker answers the first time, instead of rejecting. @default false */
  waitForBroker?: boolean;
  /** Reconnect when the broker goes away. @default true */
  reconnect?: boolean;
  /** Delay before reconnect attempt n (0-based); null gives up. @default exponentialBackoff({ maxDelayMs }) */
  reconnectPolicy?: ReconnectPolicy;
  /** Upper bound of the default policy's delay. @default 2000 */
  maxReconnectDelayMs?: number;
  /** Publishes kept while disconnected; past it the oldest are dropped and counted. @default 10000 */
  offlineQueueMessages?: number;
  /** Bytes kept while disconnected; past it the oldest are dropped and counted. @default 8 MiB */
  offlineQueueBytes?: number;
  /** Bytes that may wait for the socket while connected; past it publishes are dropped and counted. @default 32 MiB */
  maxPendingBytes?: number;
  /** Messages a subscription iterated with `for await` may hold unread. @default 10000 */
  subscriptionQueueMessages?: number;
  /** How long `request()` waits for a reply unless told otherwise. @default 5000 */
  requestTimeoutMs?: number;
  /** How long the broker may take to answer hello. @default 5000 */
  handshakeTimeoutMs?: number;
  /** Silence from the broker after which the client pings it. @default 5000 */
  pingIntervalMs?: number;
  /** Further silence after that ping before the broker is taken for hung and the client reconnects. @default 5000 */
  pingTimeoutMs?: number;
  /**
   * A user, by uid or name, trusted to run the broker besides root and this
   * process's own user. The client checks who listens on the socket (the
   * kernel's peer credentials) before sending anything, on every connect,
   * and refuses any other with UNTRUSTED_BROKER. @default $SOCKBUS_BROKER_UID, else none
   */
  brokerUid?: number | string;
}

export type ResolvedClientOptions = Required<Omit<ClientOptions, 'maxReconnectDelayMs' | 'brokerUid'>> & { brokerTrust: BrokerTrust };

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  return {
    path: resolveSocketPath(options.path, process.env),
    name: options.name ?? '',
    noEcho: options.noEcho ?? false,
    waitForBroker: options.waitForBroker ?? false,
    reconnect: options.reconnect ?? true,
    reconnectPolicy: options.reconnectPolicy ?? exponentialBackoff({ maxDelayMs: options.maxReconnectDelayMs ?? 2000 }),
    offlineQueueMessages: options.offlineQueueMessages ?? 10_000,
    offlineQueueBytes: options.offlineQueueBytes ?? 8 * 1024 * 1024,
    maxPendingBytes: options.maxPendingBytes ?? 32 * 1024 * 1024,
    subscriptionQueueMessages: options.subscriptionQueueMessages ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 5000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
    pingIntervalMs: options.pingIntervalMs ?? 5000,
    pingTimeoutMs: options.pingTimeoutMs ?? 5000,
    brokerTrust: resolveBrokerTrust(options.brokerUid, process.env),
  };
}
