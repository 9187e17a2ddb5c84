import type { ErrorAbout, RecoverableCode } from './errors.js';
import type { BrokerStats } from './stats.js';

/**
 * Every frame holds one msgpack array whose first element is one of these
 * kinds. The numbers are the wire format: never renumber, only add.
 */
export const MessageKind = {
  Hello: 1,
  Welcome: 2,
  Publish: 3,
  Subscribe: 4,
  Unsubscribe: 5,
  Message: 6,
  Ping: 7,
  Pong: 8,
  Error: 9,
  GoingAway: 10,
  Dropped: 11,
  StatsRequest: 12,
  Stats: 13,
  Respond: 14,
  Reply: 15,
  Subscribed: 16,
} as const;

export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export type Headers = Record<string, string>;

export interface Hello {
  kind: typeof MessageKind.Hello;
  version: number;
  name?: string;
  /** Do not deliver this connection's own publishes back to it. */
  noEcho?: boolean;
}

/** The broker's answer to hello: who it is and every limit a client must honour (PROTOCOL.md §3.2). */
export interface Welcome {
  kind: typeof MessageKind.Welcome;
  version: number;
  connectionId: number;
  server: string;
  /** Whether every message and responder's reply carries its sender's credentials. */
  senders: boolean;
  maxFrameBytes: number;
  /** The longest frame body the broker sends. */
  maxBrokerFrameBytes: number;
  maxTopicBytes: number;
  maxPatternTokens: number;
  maxPatternWildcards: number;
  maxHeaderEntries: number;
  maxHeaderBytes: number;
  maxSubscriptions: number;
  maxRequests: number;
  maxPendingBytes: number;
  keepaliveMs: number;
}

/**
 * A publish as the broker sees it: the topic, and the frame itself so it can
 * be forwarded without decoding or re-encoding the payload.
 */
export interface PublishFrame {
  kind: typeof MessageKind.Publish;
  /** Empty when the topic element is not valid UTF-8; `refusal` then says so. */
  topic: string;
  body: Buffer;
  /** Offset in `body` where the topic element starts. */
  topicOffset: number;
  /** Offsets in `body` of the data element and just past it. */
  dataOffset: number;
  dataEnd: number;
  /** Offset in `body` just past the headers (or the data, when there are none). */
  forwardEnd: number;
  hasHeaders: boolean;
  /** Keep this as the topic's last value for later subscribers. */
  retain: boolean;
  /** Set when this publish is a request: the id the client awaits a reply under. */
  requestId: number | undefined;
  /** What is wrong with a sound frame (its topic's or data's text, its headers), found while reading it. */
  refusal: Refusal | null;
}

/** Why one frame is refused while the connection goes on. */
export interface Refusal {
  code: RecoverableCode;
  message: string;
}

/** The options element of a publish; absent options are all false. */
export interface PublishFlags {
  retain?: boolean;
  /** Makes the publish a request; the reply comes back as a reply message with this id. */
  request?: number;
}

export interface Subscribe {
  kind: typeof MessageKind.Subscribe;
  /** Chosen by the client, unique among its live subscriptions. */
  subscriptionId: number;
  /** Null when the pattern element is not valid UTF-8. */
  pattern: string | null;
  /** Queue group: each message goes to one member of the group instead of to all. */
  queue?: string;
}

export interface Unsubscribe {
  kind: typeof MessageKind.Unsubscribe;
  subscriptionId: number;
}

export interface Delivery {
  kind: typeof MessageKind.Message;
  topic: string;
  data: unknown;
  headers?: Headers;
  info?: DeliveryInfo;
  /** Who published it, as the kernel told the broker; no client can set this. */
  sender?: Sender;
}

/** What the broker adds to a delivery: the optional fifth element of a message. */
export interface DeliveryInfo {
  /** The message is a request; answer it with a respond message to this opaque address. */
  reply?: string;
  /** A retained value sent because a new subscription matched it, not a live publish. */
  retained?: boolean;
  /** For this subscription only, not every matching one: a queue group or retained delivery. */
  sub?: number;
}

/** The publishing process, from the peer credentials of its connection; pid is null where the platform cannot tell. */
export interface Sender {
  uid: number;
  pid: number | null;
  /** Set when the message came in through a gateway of the broker rather than from that process: `bridge` for the NATS bridge. */
  via?: string;
}

/** Why a request failed, as the responder or the broker put it. */
export interface ReplyError {
  code: string;
  message: string;
}

/**
 * A respond as the broker sees it: where the reply goes, the spans of the
 * answer's data and headers in the frame (forwarded without decoding), and
 * the error when the responder made the request fail.
 */
export interface RespondFrame {
  kind: typeof MessageKind.Respond;
  replyTo: string;
  body: Buffer;
  /** Offsets in `body` of the data element and just past it. */
  dataOffset: number;
  dataEnd: number;
  /** Offsets in `body` of the headers map; equal when there are none (nil or absent). */
  headersOffset: number;
  headersEnd: number;
  error?: ReplyError;
  /** What is wrong with its data or headers, found while reading it. */
  refusal: Refusal | null;
}

/** A reply (kind 15) as its requester receives it: the answer to a request. */
export interface ReplyDelivery {
  kind: typeof MessageKind.Reply;
  requestId: number;
  data: unknown;
  headers?: Headers;
  error?: ReplyError;
  /** Who answered, from the responder's peer credentials as the broker read them; absent from brokers that do not say. */
  sender?: Sender;
}

export interface Ping {
  kind: typeof MessageKind.Ping;
  token: number;
}

export interface Pong {
  kind: typeof MessageKind.Pong;
  token: number;
}

export interface ErrorMessage {
  kind: typeof MessageKind.Error;
  code: string;
  message: string;
  /** Which frame of the client it answers; absent when no one frame caused it. */
  about?: ErrorAbout;
}

/** The broker holds a subscription from now on; its replay and live messages follow. */
export interface Subscribed {
  kind: typeof MessageKind.Subscribed;
  subscriptionId: number;
}

export interface GoingAway {
  kind: typeof MessageKind.GoingAway;
  reason: string;
}

export interface Dropped {
  kind: typeof MessageKind.Dropped;
  /** Messages for this connection the broker discarded since its last notice. */
  count: number;
}

export interface StatsRequest {
  kind: typeof MessageKind.StatsRequest;
  token: number;
}

export interface Stats {
  kind: typeof MessageKind.Stats;
  token: number;
  stats: BrokerStats;
}

/** What a client may send. */
export type ClientMessage = Hello | PublishFrame | Subscribe | Unsubscribe | Ping | Pong | StatsRequest | RespondFrame | GoingAway;
/** What a broker may send. */
export type BrokerMessage = Welcome | Delivery | Ping | Pong | ErrorMessage | GoingAway | Dropped | Stats | ReplyDelivery | Subscribed;

export function kindName(kind: number): string {
  for (const [name, value] of Object.entries(MessageKind)) {
    if (value === kind) return name.replace(/[A-Z]/g, (letter, index) => (index ? '-' : '') + letter.toLowerCase());
  }
  return `kind ${kind}`;
}

