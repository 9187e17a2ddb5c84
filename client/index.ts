/** The public API of the sockbus client library. */
export { connect, Client, type ClientCounters, type PublishOptions } from './client.js';
export { Subscription, type Message, type MessageHandler } from './subscription.js';
export type { ClientEvents, ClientState, ConnectionInfo, DroppedNotice } from './events.js';
export type { ClientOptions } from './options.js';
export { exponentialBackoff, type BackoffOptions, type ReconnectPolicy } from './backoff.js';
export { ErrorCode, SockbusError, ProtocolError, type Headers } from '../protocol/index.js';
