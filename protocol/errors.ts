/**
 * Every error sockbus raises, on either side of the socket, carries a stable
 * `code`. A broker ERROR frame carries the same code, so a user can
 * `switch (err.code)` whether the problem was found locally or by the broker.
 */
export const ErrorCode = {
  /** A frame announced more bytes than the limit allows. */
  FrameTooLarge: 'FRAME_TOO_LARGE',
  /** Bytes that are not one well-formed msgpack value, or a frame of length 0. */
  MalformedFrame: 'MALFORMED_FRAME',
  /** Well-formed msgpack whose shape is not a known message. */
  InvalidMessage: 'INVALID_MESSAGE',
  UnknownMessageKind: 'UNKNOWN_MESSAGE_KIND',
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  HandshakeRequired: 'HANDSHAKE_REQUIRED',
  InvalidTopic: 'INVALID_TOPIC',
  /** A message's headers have more entries or bytes than the protocol allows. */
  HeadersTooLarge: 'HEADERS_TOO_LARGE',
  InvalidPattern: 'INVALID_PATTERN',
  /** A queue group name that is empty, too long, or holds whitespace or control characters. */
  InvalidQueue: 'INVALID_QUEUE',
  /** Publishing into the broker's own `$SYS.` namespace. */
  ReservedTopic: 'RESERVED_TOPIC',
  SlowConsumer: 'SLOW_CONSUMER',
  /** The access policy does not let this peer publish or subscribe there. */
  AccessDenied: 'ACCESS_DENIED',
  /** A connection already holds as many subscriptions (or bytes of patterns) as the broker allows, or its user does. */
  TooManySubscriptions: 'TOO_MANY_SUBSCRIPTIONS',
  /** A pattern has more tokens or `*` wildcards than the broker allows. */
  PatternTooComplex: 'PATTERN_TOO_COMPLEX',
  /** The user's clients together hold their whole memory share of the broker. */
  OverMemoryShare: 'OVER_MEMORY_SHARE',
  /** The broker already serves as many connections as it allows. */
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
  SocketPathTooLong: 'SOCKET_PATH_TOO_LONG',
  SocketPathOccupied: 'SOCKET_PATH_OCCUPIED',
  BrokerAlreadyRunning: 'BROKER_ALREADY_RUNNING',
  BrokerUnavailable: 'BROKER_UNAVAILABLE',
  ConnectionClosed: 'CONNECTION_CLOSED',
  ClientClosed: 'CLIENT_CLOSED',
  Timeout: 'TIMEOUT',
  /** A subscription's handler threw; the client reports it and goes on. */
  HandlerFailed: 'HANDLER_FAILED',
  /** A connection asks for more than its user's rate allows, and does not wait for the answers. */
  RateLimited: 'RATE_LIMITED',
  /** A connection already has as many requests awaiting an answer as the broker allows. */
  TooManyRequests: 'TOO_MANY_REQUESTS',
  /** A request matched no subscriber, so nobody could answer it. */
  NoResponders: 'NO_RESPONDERS',
  /** A responder answered a request with an error; the default code of such replies. */
  RequestFailed: 'REQUEST_FAILED',
  /** `respond()` on a message that is not a request. */
  NotARequest: 'NOT_A_REQUEST',
  /** A retained value was refused: the store is at its bound (count or bytes). */
  RetainedStoreFull: 'RETAINED_STORE_FULL',
  /** The `--acl` policy file cannot be read or is invalid. */
  InvalidPolicy: 'INVALID_POLICY',
  /** Peer credentials are needed (for --acl or a group name) and the native addon is not available. */
  CredentialsUnavailable: 'CREDENTIALS_UNAVAILABLE',
  /** The process listening on the socket runs as a user the client does not trust (not root, not itself, not brokerUid). */
  UntrustedBroker: 'UNTRUSTED_BROKER',
  /** The socket's directory could let another user replace or intercept the socket. */
  UnsafeSocketDirectory: 'UNSAFE_SOCKET_DIRECTORY',
  /** The broker cannot read or write its `--state` file, so it does not start. */
  StateFileUnusable: 'STATE_FILE_UNUSABLE',
  /** --bridge was given and the optional `nats` package is not installed, so the broker does not start. */
  BridgeUnavailable: 'BRIDGE_UNAVAILABLE',
  /** A bug in sockbus itself; the broker stays up. */
  Internal: 'INTERNAL_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SockbusError extends Error {
  readonly code: string;

  constructor(code: ErrorCode | string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SockbusError';
    this.code = code;
  }
}

/** Raised by the pure protocol layer when bytes or values from a peer are invalid. */
export class ProtocolError extends SockbusError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
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
