import { Packr, Unpackr } from 'msgpackr';
import { BoundedCache } from './bounded-cache.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { encodeFrame } from './frame.js';
import { MAX_CLIENT_NAME_BYTES } from './limits.js';
import { MsgpackCursor } from './msgpack-cursor.js';

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

export interface Welcome {
  kind: typeof MessageKind.Welcome;
  version: number;
  connectionId: number;
  server: string;
  maxFrameBytes: number;
  maxTopicBytes: number;
  maxPendingBytes: number;
}

/**
 * A publish as the broker sees it: the topic, and the frame itself so it can
 * be forwarded without decoding or re-encoding the payload.
 */
export interface PublishFrame {
  kind: typeof MessageKind.Publish;
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
  pattern: string;
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
}

/** The answer to a request, to the client that made it. */
export interface Reply {
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
  /** The subscription id the error is about, when it is about one. */
  subscriptionId?: number;
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
  stats: Record<string, unknown>;
}

/** What a client may send. */
export type ClientMessage = Hello | PublishFrame | Subscribe | Unsubscribe | Ping | Pong | StatsRequest | RespondFrame | GoingAway;
/** What a broker may send. */
export type BrokerMessage = Welcome | Delivery | Ping | Pong | ErrorMessage | GoingAway | Dropped | Stats | Reply;

/**
 * The one msgpackr configuration, shared by everything that encodes or
 * decodes sockbus values: maps as plain msgpack maps with the smallest
 * header, undefined as nil, maps decoded as objects, 64-bit integers as numbers.
 */
export const packer = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
export const unpacker = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Any message except the frames the broker forwards without decoding; a client encodes those with their own functions. */
export type EncodableMessage = Exclude<ClientMessage | BrokerMessage, PublishFrame | RespondFrame>;

/** The msgpack nil byte: an absent headers or error element that has to hold its place. */
export const NIL = Buffer.from([0xc0]);

/** `[3, topic, ` already encoded, per topic and element count (3, 4 or 5): the part of a publish that repeats. */
const publishPrefixes = [new BoundedCache<string, Buffer>(), new BoundedCache<string, Buffer>(), new BoundedCache<string, Buffer>()] as const;

function publishPrefix(topic: string, elements: 3 | 4 | 5): Buffer {
  const cache = publishPrefixes[elements - 3]!;
  const known = cache.get(topic);
  if (known) return known;
  const encodedTopic = packer.pack(topic);
  const prefix = Buffer.allocUnsafe(2 + encodedTopic.length);
  prefix[0] = 0x90 | elements;
  prefix[1] = MessageKind.Publish;
  prefix.set(encodedTopic, 2);
  return cache.set(topic, prefix);
}

/**
 * The msgpack body of a publish in parts, to be written one after another:
 * the cached `[3, topic` prefix, the data, then the headers and the options
 * when there are any. Only the data is encoded per message. The parts are
 * views the encoder never overwrites, so they can be kept without copying.
 */
export function encodePublishParts(topic: string, data: unknown, headers?: Headers, flags?: PublishFlags): Uint8Array[] {
  const withOptions = flags !== undefined && (flags.retain === true || flags.request !== undefined);
  const parts = [publishPrefix(topic, withOptions ? 5 : headers ? 4 : 3)];
  pushData(parts, data);
  if (withOptions) {
    const options = flags.request === undefined ? { retain: true } : flags.retain ? flags : { request: flags.request };
    parts.push(headers ? packer.pack(headers) : NIL, packer.pack(options));
  } else if (headers) {
    parts.push(packer.pack(headers));
  }
  return parts;
}

/**
 * Appends the encoded data. Bytes are the common payload of telemetry and
 * plugins, and msgpack frames them with a header of a few bytes: written
 * here, with the caller's bytes as a part of their own, they skip msgpackr's
 * per-call setup and its copy (about 400 ns for 100 bytes, and a copy of
 * every large payload). Anything else goes through msgpackr.
 */
function pushData(parts: Uint8Array[], data: unknown): void {
  if (!(data instanceof Uint8Array)) {
    parts.push(packer.pack(data));
    return;
  }
  const length = data.length;
  let header: Buffer;
  if (length < 0x100) {
    header = Buffer.allocUnsafe(2);
    header[0] = 0xc4;
    header[1] = length;
  } else if (length < 0x10000) {
    header = Buffer.allocUnsafe(3);
    header[0] = 0xc5;
    header.writeUInt16BE(length, 1);
  } else {
    header = Buffer.allocUnsafe(5);
    header[0] = 0xc6;
    header.writeUInt32BE(length, 1);
  }
  parts.push(header, data);
}

/** The msgpack body of a publish as one buffer. */
export function encodePublishBody(topic: string, data: unknown, headers?: Headers, flags?: PublishFlags): Uint8Array {
  return Buffer.concat(encodePublishParts(topic, data, headers, flags));
}

/** The msgpack body of a respond: the answer to the request that carried `replyTo`. */
export function encodeRespondBody(replyTo: string, data: unknown, headers?: Headers, error?: ReplyError): Uint8Array {
  return packer.pack([MessageKind.Respond, replyTo, data, headers ?? null, error ? { code: error.code, message: error.message } : null]);
}

/** A whole frame: length prefix and body. */
export function encodeMessage(message: EncodableMessage): Buffer {
  return encodeFrame(encodeBody(message));
}

/** The msgpack body of a message, without the frame's length prefix. */
export function encodeBody(message: EncodableMessage): Uint8Array {
  switch (message.kind) {
    case MessageKind.Hello: {
      const { kind, ...fields } = message;
      return packer.pack([kind, fields]);
    }
    case MessageKind.Welcome: {
      const { kind, ...fields } = message;
      return packer.pack([kind, fields]);
    }
    case MessageKind.Subscribe:
      return packer.pack(
        message.queue === undefined
          ? [message.kind, message.subscriptionId, message.pattern]
          : [message.kind, message.subscriptionId, message.pattern, { queue: message.queue }],
      );
    case MessageKind.Unsubscribe:
      return packer.pack([message.kind, message.subscriptionId]);
    case MessageKind.Message:
      if (message.sender) {
        const { uid, pid } = message.sender;
        return packer.pack([message.kind, message.topic, message.data, message.headers ?? null, message.info ?? null, [uid, pid]]);
      }
      if (message.info) return packer.pack([message.kind, message.topic, message.data, message.headers ?? null, message.info]);
      return packer.pack(
        message.headers
          ? [message.kind, message.topic, message.data, message.headers]
          : [message.kind, message.topic, message.data],
      );
    case MessageKind.Reply:
      // The broker's own replies (no responders) have the fixed shape too, with no sender.
      return packer.pack([message.kind, message.requestId, message.data, message.headers ?? null, message.error ?? null, null]);
    case MessageKind.Ping:
    case MessageKind.Pong:
    case MessageKind.StatsRequest:
      return packer.pack([message.kind, message.token]);
    case MessageKind.Error:
      return packer.pack([message.kind, message.code, message.message, message.subscriptionId ?? null]);
    case MessageKind.GoingAway:
      return packer.pack([message.kind, message.reason]);
    case MessageKind.Dropped:
      return packer.pack([message.kind, message.count]);
    case MessageKind.Stats:
      return packer.pack([message.kind, message.token, message.stats]);
  }
}

/** Decodes a frame body from a client. Throws ProtocolError naming the problem. */
export function decodeClientMessage(body: Buffer): ClientMessage {
  const cursor = new MsgpackCursor(body);
  const length = cursor.readArrayLength();
  if (length === 0) throw invalid('a message is an array whose first element is its kind');
  const kind = cursor.readUint();
  if (kind === MessageKind.Publish) return decodePublish(body, cursor, length);
  if (kind === MessageKind.Respond) return decodeRespond(body, cursor, length);
  const fields = decodeWhole(body, 'checked');
  switch (kind) {
    case MessageKind.Hello: {
      const options = field(fields, 1, 'map', 'hello');
      const version = options['version'];
      if (!Number.isInteger(version)) throw invalid('hello: "version" must be an integer');
      const name = options['name'];
      if (name !== undefined && name !== null && typeof name !== 'string') throw invalid('hello: "name" must be a string');
      const nameBytes = typeof name === 'string' ? Buffer.byteLength(name) : 0;
      if (nameBytes > MAX_CLIENT_NAME_BYTES) throw invalid(`hello: "name" is ${nameBytes} bytes, longer than the limit of ${MAX_CLIENT_NAME_BYTES} bytes`);
      const noEcho = options['noEcho'];
      if (noEcho !== undefined && noEcho !== null && typeof noEcho !== 'boolean') {
        throw invalid('hello: "noEcho" must be a boolean');
      }
      return { kind, version: version as number, name: name ?? undefined, noEcho: noEcho ?? undefined };
    }
    case MessageKind.Subscribe: {
      const queue = optionalMap(fields, 3, 'subscribe options')?.['queue'];
      if (queue !== undefined && queue !== null && typeof queue !== 'string') throw invalid('subscribe: "queue" must be a string');
      const subscribe: Subscribe = {
        kind,
        subscriptionId: field(fields, 1, 'id', 'subscribe'),
        pattern: field(fields, 2, 'string', 'subscribe'),
      };
      if (typeof queue === 'string') subscribe.queue = queue;
      return subscribe;
    }
    case MessageKind.Unsubscribe:
      return { kind, subscriptionId: field(fields, 1, 'id', 'unsubscribe') };
    case MessageKind.Ping:
    case MessageKind.Pong:
    case MessageKind.StatsRequest:
      return { kind, token: field(fields, 1, 'id', kindName(kind)) };
    case MessageKind.GoingAway:
      return { kind, reason: field(fields, 1, 'string', 'going-away') };
    default:
      throw new ProtocolError(ErrorCode.UnknownMessageKind, `unknown message kind ${kind} from a client`);
  }
}

/** Decodes a frame body from the broker. */
export function decodeBrokerMessage(body: Buffer): BrokerMessage {
  // The broker's frames carry payloads it has already checked, so the
  // in-place pass is skipped here: it is on every delivery's path.
  const fields = decodeWhole(body, 'trusted');
  if (fields.length === 0) throw invalid('a message is an array whose first element is its kind');
  const kind = fields[0];
  switch (kind) {
    case MessageKind.Welcome: {
      const options = field(fields, 1, 'map', 'welcome');
      return { kind, ...(options as Omit<Welcome, 'kind'>) };
    }
    case MessageKind.Message: {
      const headers = fields[3];
      const delivery: Delivery = {
        kind,
        topic: field(fields, 1, 'string', 'message'),
        data: fields[2],
        headers: headers ? (headers as Headers) : undefined,
      };
      const info = optionalMap(fields, 4, 'message info');
      if (info) delivery.info = info as DeliveryInfo;
      const sender = senderOf(fields[5], 'a message');
      if (sender) delivery.sender = sender;
      return delivery;
    }
    case MessageKind.Reply: {
      const headers = fields[3];
      const error = optionalMap(fields, 4, 'reply error');
      const reply: Reply = {
        kind,
        requestId: field(fields, 1, 'id', 'reply'),
        data: fields[2],
        headers: headers ? (headers as Headers) : undefined,
        error: error ? replyError(error) : undefined,
      };
      // [uid, pid] as in a message's sender (§3.7); nil or missing from a broker that does not send it.
      const sender = senderOf(fields[5], 'a reply');
      if (sender) reply.sender = sender;
      return reply;
    }
    case MessageKind.Ping:
    case MessageKind.Pong:
      return { kind, token: field(fields, 1, 'id', kindName(kind)) };
    case MessageKind.Error: {
      const subscriptionId = fields[3];
      return {
        kind,
        code: field(fields, 1, 'string', 'error'),
        message: field(fields, 2, 'string', 'error'),
        subscriptionId: typeof subscriptionId === 'number' ? subscriptionId : undefined,
      };
    }
    case MessageKind.GoingAway:
      return { kind, reason: field(fields, 1, 'string', 'going-away') };
    case MessageKind.Dropped:
      return { kind, count: field(fields, 1, 'id', 'dropped') };
    case MessageKind.Stats:
      return { kind, token: field(fields, 1, 'id', 'stats'), stats: field(fields, 2, 'map', 'stats') };
    default:
      throw new ProtocolError(ErrorCode.UnknownMessageKind, `unknown message kind ${String(kind)} from the broker`);
  }
}

/** A sender element, `[uid, pid]` or `[uid, pid, via]`; undefined when nil or absent. */
export function senderOf(element: unknown, what: string): Sender | undefined {
  if (element === undefined || element === null) return undefined;
  const [uid, pid, via] = Array.isArray(element) ? element : [];
  if (!Number.isSafeInteger(uid) || !(pid === null || pid === undefined || Number.isSafeInteger(pid)) || !(via === undefined || typeof via === 'string')) {
    throw invalid(`${what}'s sender is [uid, pid] or [uid, pid, via]`);
  }
  const sender: Sender = { uid: uid as number, pid: (pid as number | null | undefined) ?? null };
  if (via !== undefined) sender.via = via as string;
  return sender;
}

export function kindName(kind: number): string {
  for (const [name, value] of Object.entries(MessageKind)) {
    if (value === kind) return name.replace(/[A-Z]/g, (letter, index) => (index ? '-' : '') + letter.toLowerCase());
  }
  return `kind ${kind}`;
}

function decodePublish(body: Buffer, cursor: MsgpackCursor, length: number): PublishFrame {
  if (length < 3) throw invalid('publish: expected [3, topic, data] or [3, topic, data, headers]');
  const topicOffset = cursor.offset;
  // A topic that is not text is refused like any invalid topic: the frame
  // itself is sound, so the connection can go on.
  const topic = cursor.readString('topic', ErrorCode.InvalidTopic);
  const dataOffset = cursor.offset;
  cursor.skipValue();
  const dataEnd = cursor.offset;
  const hasHeaders = length >= 4 && !cursor.isNil();
  if (length >= 4) {
    if (hasHeaders) cursor.skipHeaders('publish headers');
    else cursor.skipValue();
  }
  // Data + headers are forwarded, and a nil headers element is dropped with them.
  const forwardEnd = hasHeaders ? cursor.offset : dataEnd;
  let flags: PublishFlags | undefined;
  if (length >= 5) {
    const optionsOffset = cursor.offset;
    cursor.skipValue();
    flags = publishFlags(body.subarray(optionsOffset, cursor.offset));
  }
  for (let index = 5; index < length; index++) cursor.skipValue();
  if (!cursor.atEnd) throw trailing();
  return {
    kind: MessageKind.Publish,
    topic,
    body,
    topicOffset,
    dataOffset,
    dataEnd,
    forwardEnd,
    hasHeaders,
    retain: flags?.retain ?? false,
    requestId: flags?.request,
  };
}

/** The publish options element, already checked to be well-formed: nil or a map. */
function publishFlags(element: Buffer): PublishFlags | undefined {
  const options = optionalMap([unpackOptions(element, 'publish: options')], 0, 'publish options');
  if (!options) return undefined;
  const { retain, request } = options;
  if (retain !== undefined && retain !== null && typeof retain !== 'boolean') throw invalid('publish: "retain" must be a boolean');
  if (request !== undefined && request !== null && !(Number.isSafeInteger(request) && (request as number) >= 0)) {
    throw invalid('publish: "request" must be a non-negative integer');
  }
  return { retain: retain === true, request: typeof request === 'number' ? request : undefined };
}

/**
 * Decodes a small map element (publish options, a respond's error). It
 * holds plain values: what msgpackr cannot turn into one (an extension
 * type, nesting too deep for it) is the client's mistake, not a broker bug.
 */
function unpackOptions(element: Buffer, what: string): unknown {
  try {
    return unpacker.unpack(element);
  } catch (error) {
    throw invalid(`${what} must be a map of plain values (${(error as Error).message})`);
  }
}

/**
 * `[14, replyTo, data, headers, error]`, read in place: the data is only
 * skipped, never decoded, and later elements are ignored (extension room).
 * The broker builds the reply from these spans, so nothing else the
 * responder sends reaches the requester.
 */
function decodeRespond(body: Buffer, cursor: MsgpackCursor, length: number): RespondFrame {
  if (length < 3) throw invalid('respond: expected [14, replyTo, data, headers, error]');
  const replyTo = cursor.readString('reply address');
  const dataOffset = cursor.offset;
  cursor.skipValue();
  const dataEnd = cursor.offset;
  let headersOffset = dataEnd;
  let headersEnd = dataEnd;
  if (length >= 4) {
    if (cursor.isNil()) {
      cursor.skipValue();
    } else {
      headersOffset = cursor.offset;
      cursor.skipHeaders('respond headers');
      headersEnd = cursor.offset;
    }
  }
  let error: ReplyError | undefined;
  if (length >= 5) {
    const errorOffset = cursor.offset;
    cursor.skipValue();
    const errorMap = optionalMap([unpackOptions(body.subarray(errorOffset, cursor.offset), 'respond: the error')], 0, 'respond error');
    if (errorMap) error = replyError(errorMap);
  }
  for (let index = 5; index < length; index++) cursor.skipValue();
  if (!cursor.atEnd) throw trailing();
  return { kind: MessageKind.Respond, replyTo, body, dataOffset, dataEnd, headersOffset, headersEnd, error };
}

function replyError(error: Record<string, unknown>): ReplyError {
  const { code, message } = error;
  if (typeof code !== 'string' || typeof message !== 'string') throw invalid('an error reply must be a map with "code" and "message" strings');
  return { code, message };
}

/** The map at `fields[index]`, or undefined when it is absent or nil. */
function optionalMap(fields: unknown[], index: number, what: string): Record<string, unknown> | undefined {
  const value = fields[index];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw invalid(`${what} must be a map or nil`);
  return value as Record<string, unknown>;
}

/**
 * Decodes a whole frame body. From a client it is first checked in place,
 * without recursion, so hostile nesting or trailing bytes get the same
 * errors as on the publish path; msgpackr itself also refuses trailing
 * bytes, and a too-deep value makes it throw, which becomes MALFORMED_FRAME.
 */
function decodeWhole(body: Buffer, source: 'checked' | 'trusted'): unknown[] {
  if (source === 'checked') {
    const cursor = new MsgpackCursor(body);
    cursor.skipValue();
    if (!cursor.atEnd) throw trailing();
  }
  let value: unknown;
  try {
    value = unpacker.unpack(body);
  } catch (error) {
    throw new ProtocolError(ErrorCode.MalformedFrame, `malformed msgpack: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(value)) throw invalid('a message is an array whose first element is its kind');
  return value;
}

type FieldType = 'string' | 'id' | 'map';
type FieldValue<F extends FieldType> = F extends 'string' ? string : F extends 'id' ? number : Record<string, unknown>;

function field<F extends FieldType>(fields: unknown[], index: number, type: F, message: string): FieldValue<F> {
  const value = fields[index];
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'id'
        ? Number.isSafeInteger(value) && (value as number) >= 0
        : typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
  if (!ok) {
    const expected = type === 'id' ? 'a non-negative integer' : type === 'map' ? 'a map' : 'a string';
    throw invalid(`${message}: element ${index} must be ${expected}`);
  }
  return value as FieldValue<F>;
}

function invalid(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidMessage, message);
}

function trailing(): ProtocolError {
  return new ProtocolError(ErrorCode.MalformedFrame, 'bytes after the end of the msgpack value: a frame holds exactly one value');
}
