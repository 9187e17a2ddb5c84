import { ErrorCode, ProtocolError, type ErrorAbout } from './errors.js';
import { kindName, MessageKind, type BrokerMessage, type Delivery, type DeliveryInfo, type ErrorMessage, type Headers, type ReplyDelivery, type ReplyError, type Welcome } from './kinds.js';
import { decodeDeliveryInPlace, isMap, senderOf } from './decode-delivery.js';
import { unpackValue } from './msgpack.js';
import type { BrokerStats } from './stats.js';

/**
 * Decodes a frame body from the broker; null for a kind this client does
 * not know, which PROTOCOL.md §3.0 says to ignore. The broker's frames carry
 * payloads it has already checked, so there is no in-place pass here: this
 * is on every delivery's path.
 */
export function decodeBrokerMessage(body: Buffer): BrokerMessage | null {
  const delivery = decodeDeliveryInPlace(body);
  if (delivery) return delivery;
  const fields = unpackBody(body);
  if (fields.length === 0) throw invalid('a message is an array whose first element is its kind');
  const kind = fields[0];
  switch (kind) {
    case MessageKind.Welcome:
      return welcomeOf(field(fields, 1, 'map', 'welcome'));
    case MessageKind.Subscribed:
      return { kind, subscriptionId: field(fields, 1, 'id', 'subscribed') };
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
      const reply: ReplyDelivery = {
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
      const error: ErrorMessage = { kind, code: field(fields, 1, 'string', 'error'), message: field(fields, 2, 'string', 'error') };
      const about = optionalMap(fields, 3, 'error about');
      if (about) error.about = aboutOf(about);
      return error;
    }
    case MessageKind.GoingAway:
      return { kind, reason: field(fields, 1, 'string', 'going-away') };
    case MessageKind.Dropped:
      return { kind, count: field(fields, 1, 'id', 'dropped') };
    case MessageKind.Stats:
      // The broker is trusted for the keys of §3.11 (see stats.ts); only the map itself is checked.
      return { kind, token: field(fields, 1, 'id', 'stats'), stats: field(fields, 2, 'map', 'stats') as unknown as BrokerStats };
    default:
      if (Number.isInteger(kind)) return null;
      throw invalid(`a broker frame's kind must be an integer, not ${JSON.stringify(kind)}`);
  }
}

/** The welcome's info map; the limits a client relies on must be there. */
function welcomeOf(info: Record<string, unknown>): Welcome {
  for (const key of ['version', 'connectionId', 'maxFrameBytes', 'maxBrokerFrameBytes', 'maxTopicBytes', 'maxPendingBytes']) {
    if (!Number.isSafeInteger(info[key])) throw invalid(`welcome: "${key}" must be an integer`);
  }
  return { kind: MessageKind.Welcome, ...(info as Omit<Welcome, 'kind'>), senders: info['senders'] === true };
}

/** An error's about map: only the keys of PROTOCOL.md §3.8, each of its type. */
function aboutOf(map: Record<string, unknown>): ErrorAbout {
  const about: ErrorAbout = {};
  for (const key of ['kind', 'sub', 'inUse'] as const) if (Number.isSafeInteger(map[key])) about[key] = map[key] as number;
  for (const key of ['topic', 'reply'] as const) if (typeof map[key] === 'string') about[key] = map[key] as string;
  return about;
}

function replyError(error: Record<string, unknown>): ReplyError {
  const { code, message } = error;
  if (typeof code !== 'string' || typeof message !== 'string') throw invalid('an error reply must be a map with "code" and "message" strings');
  return { code, message };
}

function unpackBody(body: Buffer): unknown[] {
  let value: unknown;
  try {
    value = unpackValue(body);
  } catch (error) {
    throw new ProtocolError(ErrorCode.MalformedFrame, `malformed msgpack: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(value) || value.length === 0) throw invalid('a message is an array whose first element is its kind');
  return value;
}

/** The map at `fields[index]`, or undefined when it is absent or nil. */
function optionalMap(fields: unknown[], index: number, what: string): Record<string, unknown> | undefined {
  const value = fields[index];
  if (value === undefined || value === null) return undefined;
  if (!isMap(value)) throw invalid(`${what} must be a map or nil`);
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
        : isMap(value);
  if (!ok) {
    const expected = type === 'id' ? 'a non-negative integer' : type === 'map' ? 'a map' : 'a string';
    throw invalid(`${message}: element ${index} must be ${expected}`);
  }
  return value as FieldValue<F>;
}

function invalid(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidMessage, message);
}
