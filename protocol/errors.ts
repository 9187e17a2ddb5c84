/**
 * Every error sockbus raises, on either side of the socket, carries a stable
 * `code`, with one meaning each (PROTOCOL.md §6). A broker ERROR frame
 * carries the same code, so a user can `switch (err.code)` whether the
 * problem was found locally or by the broker.
 */

/** Codes after which the broker keeps the connection: one frame was refused. */
export const RecoverableCode = {
  InvalidTopic: 'INVALID_TOPIC',
  /** Publishing into the broker's own `$SYS.` namespace. */
  ReservedTopic: 'RESERVED_TOPIC',
  /** A message's headers have more entries or bytes than the protocol allows. */
  HeadersTooLarge: 'HEADERS_TOO_LARGE',
  /** A string in data or headers that is not UTF-8, or a header name that breaks PROTOCOL.md §4.4. */
  InvalidData: 'INVALID_DATA',
  /** A publish that is both a request and retained. */
  InvalidOptions: 'INVALID_OPTIONS',
  /** The access policy does not let this peer publish or subscribe there. */
  AccessDenied: 'ACCESS_DENIED',
  /** A retained value was refused: the store is at its bound (count or bytes). */
  RetainedStoreFull: 'RETAINED_STORE_FULL',
  InvalidPattern: 'INVALID_PATTERN',
  /** A queue group name that is empty, too long, or holds a refused character. */
  InvalidQueue: 'INVALID_QUEUE',
  /** A pattern has more tokens or `*` wildcards than the broker allows. */
  PatternTooComplex: 'PATTERN_TOO_COMPLEX',
  /** A connection already holds as many subscriptions (or bytes of patterns) as the broker allows, or its user does. */
  TooManySubscriptions: 'TOO_MANY_SUBSCRIPTIONS',
  /** The user's clients together hold their whole memory share of the broker. */
  OverMemoryShare: 'OVER_MEMORY_SHARE',
  /** A subscribe with an id the connection already holds; that subscription stays. */
  SubscriptionIdInUse: 'SUBSCRIPTION_ID_IN_USE',
  /** A respond to an address that does not have the shape of one the broker gives out. */
  InvalidReplyAddress: 'INVALID_REPLY_ADDRESS',
} as const;

/** Codes after which the broker closes the connection. */
export const ClosingCode = {
  /** A frame announced more bytes than the limit allows. */
  FrameTooLarge: 'FRAME_TOO_LARGE',
  /** Bytes that are not one well-formed msgpack value, or a frame of length 0. */
  MalformedFrame: 'MALFORMED_FRAME',
  /** Well-formed msgpack whose shape is not a known message. */
  InvalidMessage: 'INVALID_MESSAGE',
  UnknownMessageKind: 'UNKNOWN_MESSAGE_KIND',
  HandshakeRequired: 'HANDSHAKE_REQUIRED',
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  SlowConsumer: 'SLOW_CONSUMER',
  /** The broker already serves as many connections as it allows, or this user does. */
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
  /** The broker cannot read the peer's credentials, so it will not serve it. */
  CredentialsUnavailable: 'CREDENTIALS_UNAVAILABLE',
  /** A connection asks for more than its user's rate allows, and does not wait for the answers. */
  RateLimited: 'RATE_LIMITED',
  /** No hello in time, a frame left incomplete, or a keepalive ping unanswered. */
  Timeout: 'TIMEOUT',
  /** A bug in sockbus itself; the broker stays up. */
  Internal: 'INTERNAL_ERROR',
} as const;

/** Codes only inside a reply: one request failed. */
export const ReplyCode = {
  /** A request matched no subscriber, so nobody could answer it. */
  NoResponders: 'NO_RESPONDERS',
  /** A connection already has as many requests awaiting an answer as the broker allows. */
  TooManyRequests: 'TOO_MANY_REQUESTS',
  /** A responder's error answer without a code of its own. */
  RequestFailed: 'REQUEST_FAILED',
} as const;

/** Codes the client libraries raise for what only they can see; never on the wire. */
export const LibraryCode = {
  BrokerUnavailable: 'BROKER_UNAVAILABLE',
  /** The process listening on the socket runs as a user the client does not trust (not root, not itself, not brokerUid). */
  UntrustedBroker: 'UNTRUSTED_BROKER',
  /** The broker did not answer hello or a ping in time: it may be hung. */
  BrokerUnresponsive: 'BROKER_UNRESPONSIVE',
  ConnectionClosed: 'CONNECTION_CLOSED',
  ClientClosed: 'CLIENT_CLOSED',
  /** A request got no reply within its timeout. */
  RequestTimeout: 'REQUEST_TIMEOUT',
  /** `respond()` on a message that is not a request. */
  NotARequest: 'NOT_A_REQUEST',
  /** A subscription's handler threw; the client reports it and goes on. */
  HandlerFailed: 'HANDLER_FAILED',
} as const;

/** Codes of a broker that cannot start; they end the process, never a connection. */
export const StartCode = {
  SocketPathTooLong: 'SOCKET_PATH_TOO_LONG',
  SocketPathOccupied: 'SOCKET_PATH_OCCUPIED',
  BrokerAlreadyRunning: 'BROKER_ALREADY_RUNNING',
  /** The `--acl` policy file cannot be read or is invalid. */
  InvalidPolicy: 'INVALID_POLICY',
  /** The socket's directory could let another user replace or intercept the socket. */
  UnsafeSocketDirectory: 'UNSAFE_SOCKET_DIRECTORY',
  /** The broker cannot read or write its `--state` file, so it does not start. */
  StateFileUnusable: 'STATE_FILE_UNUSABLE',
  /** --bridge was given and the optional `nats` package is not installed, so the broker does not start. */
  BridgeUnavailable: 'BRIDGE_UNAVAILABLE',
} as const;

export const ErrorCode = { ...RecoverableCode, ...ClosingCode, ...ReplyCode, ...LibraryCode, ...StartCode } as const;

export type RecoverableCode = (typeof RecoverableCode)[keyof typeof RecoverableCode];
export type ClosingCode = (typeof ClosingCode)[keyof typeof ClosingCode];
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
/** A code a responder chose for its error answer: any string, seen only on a failed request. */
export type ResponderCode = string & { readonly chosenByAResponder: unique symbol };

const recoverable: ReadonlySet<string> = new Set(Object.values(RecoverableCode));

/** Whether the broker keeps a connection after sending this code. */
export function isRecoverable(code: string): boolean {
  return recoverable.has(code);
}

export class SockbusError extends Error {
  readonly code: ErrorCode | ResponderCode;

  constructor(code: ErrorCode | ResponderCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SockbusError';
    this.code = code;
  }
}

/** Raised by the pure protocol layer when bytes or values from a peer are invalid; `about` says which frame. */
export class ProtocolError extends SockbusError {
  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
    public about?: ErrorAbout,
  ) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

/** Which client frame an error answers (PROTOCOL.md §3.8). */
export interface ErrorAbout {
  kind?: number;
  /** The broker holds no subscription with this id. */
  sub?: number;
  /** The subscription id already held (SUBSCRIPTION_ID_IN_USE). */
  inUse?: number;
  topic?: string;
  reply?: string;
}

/**
 * A command line that cannot be run, for sockbusd and sockbus alike: each
 * prints the message with its usage and exits 2. Not a SockbusError: it
 * never crosses the socket.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
