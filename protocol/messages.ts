import { Packr, Unpackr } from 'msgpackr';
import { BoundedCache } from './bounded-cache.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { encodeFrame } from './frame.js';
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
  /** Offset in `body` just past the headers (or the data, when there are none). */
  forwardEnd: number;
  hasHeaders: boolean;
}

export interface Subscribe {
  kind: typeof MessageKind.Subscribe;
  /** Chosen by the client, unique among its live subscriptions. */
  subscriptionId: number;
  pattern: string;
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
export type ClientMessage = Hello | PublishFrame | Subscribe | Unsubscribe | Ping | Pong | StatsRequest;
/** What a broker may send. */
export type BrokerMessage = Welcome | Delivery | Ping | Pong | ErrorMessage | GoingAway | Dropped | Stats;

const packer = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpacker = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Any message except a publish as the broker sees it; a client encodes publishes with encodePublishBody. */
export type EncodableMessage = Exclude<ClientMessage | BrokerMessage, PublishFrame>;

/** `[3, topic, ` already encoded, per topic and element count: the part of a publish that repeats. */
const publishPrefixes = [new BoundedCache<string, Buffer>(), new BoundedCache<string, Buffer>()] as const;

function publishPrefix(topic: string, withHeaders: boolean): Buffer {
  const cache = publishPrefixes[withHeaders ? 1 : 0];
  const known = cache.get(topic);
  if (known) return known;
  const encodedTopic = packer.pack(topic);
  const prefix = Buffer.allocUnsafe(2 + encodedTopic.length);
  prefix[0] = 0x90 | (withHeaders ? 4 : 3);
  prefix[1] = MessageKind.Publish;
  prefix.set(encodedTopic, 2);
  return cache.set(topic, prefix);
}

/**
 * The msgpack body of a publish in parts, to be written one after another:
 * the cached `[3, topic` prefix, the data, and the headers if any. Only the
 * data is encoded per message. The parts are views the encoder never
 * overwrites, so they can be kept without copying.
 */
export function encodePublishParts(topic: string, data: unknown, headers?: Headers): Uint8Array[] {
  const prefix = publishPrefix(topic, headers !== undefined);
  const encodedData = packer.pack(data);
  return headers ? [prefix, encodedData, packer.pack(headers)] : [prefix, encodedData];
}

/** The msgpack body of a publish as one buffer. */
export function encodePublishBody(topic: string, data: unknown, headers?: Headers): Uint8Array {
  return Buffer.concat(encodePublishParts(topic, data, headers));
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
      return packer.pack([message.kind, message.subscriptionId, message.pattern]);
    case MessageKind.Unsubscribe:
      return packer.pack([message.kind, message.subscriptionId]);
    case MessageKind.Message:
      return packer.pack(
        message.headers
          ? [message.kind, message.topic, message.data, message.headers]
          : [message.kind, message.topic, message.data],
      );
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

/** `[6, ` for a delivery of three or four elements: the only bytes a delivery does not share with its publish. */
const DELIVERY_PREFIXES = [Buffer.from([0x93, MessageKind.Message]), Buffer.from([0x94, MessageKind.Message])] as const;

/**
 * The body of the message every matching subscriber gets for a publish, as
 * parts to write one after another. A publish and its delivery share their
 * layout after the kind, so the payload is forwarded as the publisher's own
 * bytes, never decoded or re-encoded, and the parts serve every receiver.
 */
export function deliveryParts(publish: PublishFrame): readonly [Buffer, Buffer] {
  return [DELIVERY_PREFIXES[publish.hasHeaders ? 1 : 0], publish.body.subarray(publish.topicOffset, publish.forwardEnd)];
}

/** The whole delivery frame for a publish, as one buffer. */
export function deliveryFrameFor(publish: PublishFrame): Buffer {
  return encodeFrame(Buffer.concat(deliveryParts(publish)));
}

/** Decodes a frame body from a client. Throws ProtocolError naming the problem. */
export function decodeClientMessage(body: Buffer): ClientMessage {
  const cursor = new MsgpackCursor(body);
  const length = cursor.readArrayLength();
  if (length === 0) throw invalid('a message is an array whose first element is its kind');
  const kind = cursor.readUint();
  if (kind === MessageKind.Publish) return decodePublish(body, cursor, length);
  const fields = decodeWhole(body, 'checked');
  switch (kind) {
    case MessageKind.Hello: {
      const options = field(fields, 1, 'map', 'hello');
      const version = options['version'];
      if (!Number.isInteger(version)) throw invalid('hello: "version" must be an integer');
      const name = options['name'];
      if (name !== undefined && name !== null && typeof name !== 'string') throw invalid('hello: "name" must be a string');
      const noEcho = options['noEcho'];
      if (noEcho !== undefined && noEcho !== null && typeof noEcho !== 'boolean') {
        throw invalid('hello: "noEcho" must be a boolean');
      }
      return { kind, version: version as number, name: name ?? undefined, noEcho: noEcho ?? undefined };
    }
    case MessageKind.Subscribe:
      return {
        kind,
        subscriptionId: field(fields, 1, 'id', 'subscribe'),
        pattern: field(fields, 2, 'string', 'subscribe'),
      };
    case MessageKind.Unsubscribe:
      return { kind, subscriptionId: field(fields, 1, 'id', 'unsubscribe') };
    case MessageKind.Ping:
    case MessageKind.Pong:
    case MessageKind.StatsRequest:
      return { kind, token: field(fields, 1, 'id', kindName(kind)) };
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
      return {
        kind,
        topic: field(fields, 1, 'string', 'message'),
        data: fields[2],
        headers: headers ? (headers as Headers) : undefined,
      };
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
  cursor.skipValue();
  const hasHeaders = length >= 4 && !cursor.isNil();
  if (length >= 4) {
    if (hasHeaders) cursor.skipStringMap('publish headers');
    else cursor.skipValue();
  }
  // Data + headers are forwarded, and a nil headers element is dropped with them.
  const forwardEnd = hasHeaders ? cursor.offset : cursor.offset - (length >= 4 ? 1 : 0);
  for (let index = 4; index < length; index++) cursor.skipValue();
  if (!cursor.atEnd) throw trailing();
  return { kind: MessageKind.Publish, topic, body, topicOffset, forwardEnd, hasHeaders };
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
