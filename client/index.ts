/** The public API of the sockbus client library. */
export { connect, Client } from './client.js';
export type { ClientCounters, PublishOptions, RequestOptions, SubscribeOptions } from './api-types.js';
export { Subscription, type MessageHandler } from './subscription.js';
export { Message, type RespondOptions, type RespondErrorOptions } from './message.js';
export type { Reply } from './requests.js';
export type { ClientEvents, ClientState, ConnectionInfo, DroppedNotice } from './events.js';
export type { ClientOptions } from './options.js';
export { UntrustedBrokerError, type BrokerTrust, type UserIdentity } from './broker-trust.js';
export { exponentialBackoff, type BackoffOptions, type ReconnectPolicy } from './backoff.js';
export { ErrorCode, MsgpackExtension, SockbusError, ProtocolError, type Headers, type ResponderCode, type Sender } from '../protocol/index.js';
export type { BridgeStats, BrokerStats, ClientEntry, ClientIdentity, UserEntry } from '../protocol/index.js';
/** The name `clients()`'s rows had before the stats schema had one definition; kept for code that imports it. */
export type { ClientEntry as ClientInfo } from '../protocol/index.js';
