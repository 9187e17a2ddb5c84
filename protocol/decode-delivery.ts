import { ErrorCode, ProtocolError } from './errors.js';
import { MessageKind, type Delivery, type DeliveryInfo, type Headers, type Sender } from './kinds.js';
import { MsgpackCursor } from './msgpack-cursor.js';
import { unpackValue } from './msgpack.js';
import { TextMemo } from './text-memo.js';

/** `[6, `: a delivery always has its six elements (PROTOCOL.md §3.7). */
const MESSAGE_ARRAY = 0x96;
const NIL = 0xc0;
const BIN_8 = 0xc4;
/** A two-element array: the sender `[uid, pid]` of nearly every delivery. */
const PAIR = 0x92;

/** A subscriber sees the same few topics again and again: each distinct one is decoded once. */
const topics = new TextMemo();

/**
 * The path of every delivery a client receives: the body is read in place,
 * element by element, rather than unpacked whole into an array. The topic
 * comes from a memo, binary data is a view of the body, and only the
 * elements that hold something are unpacked. Returns null for any body it
 * does not read plainly (not a message, malformed, an odd element): the
 * general decoder then decides what it is, with its exact error.
 */
export function decodeDeliveryInPlace(body: Buffer): Delivery | null {
  if (body[0] !== MESSAGE_ARRAY || body[1] !== MessageKind.Message) return null;
  const cursor = new MsgpackCursor(body);
  cursor.offset = 2;
  try {
    const topic = cursor.readText('topic', topics);
    if (topic === null) return null;
    const delivery: Delivery = { kind: MessageKind.Message, topic, data: readElement(cursor, body), headers: undefined };
    const headers = readElement(cursor, body);
    if (headers !== null) {
      if (!isMap(headers)) return null;
      delivery.headers = headers as Headers;
    }
    const info = readElement(cursor, body);
    if (info !== null) {
      if (!isMap(info)) return null;
      delivery.info = info as DeliveryInfo;
    }
    const sender = body[cursor.offset] === PAIR ? readPair(cursor) : senderOf(readElement(cursor, body), 'a message');
    if (sender) delivery.sender = sender;
    return cursor.atEnd ? delivery : null;
  } catch {
    return null;
  }
}

/** One element: nil and binary data without unpacking (bin is the common payload), anything else unpacked on its own. */
function readElement(cursor: MsgpackCursor, body: Buffer): unknown {
  const start = cursor.offset;
  const lead = body[start];
  if (lead === NIL) {
    cursor.offset++;
    return null;
  }
  if (lead === BIN_8 && start + 1 < body.length) {
    const end = start + 2 + body[start + 1]!;
    if (end > body.length) throw new RangeError('truncated');
    cursor.offset = end;
    return body.subarray(start + 2, end);
  }
  cursor.skipValues(1, false);
  return unpackValue(body.subarray(start, cursor.offset));
}

/** A sender element, `[uid, pid]` or `[uid, pid, via]`; undefined when nil or absent. */
export function senderOf(element: unknown, what: string): Sender | undefined {
  if (element === undefined || element === null) return undefined;
  const [uid, pid, via] = Array.isArray(element) ? element : [];
  if (!Number.isSafeInteger(uid) || !(pid === null || pid === undefined || Number.isSafeInteger(pid)) || !(via === undefined || typeof via === 'string')) {
    throw new ProtocolError(ErrorCode.InvalidMessage, `${what}'s sender is [uid, pid] or [uid, pid, via]`);
  }
  const sender: Sender = { uid: uid as number, pid: (pid as number | null | undefined) ?? null };
  if (via !== undefined) sender.via = via as string;
  return sender;
}

/** `[uid, pid]`, read as two integers: no array is built for it. */
function readPair(cursor: MsgpackCursor): Sender {
  cursor.offset++;
  const uid = cursor.readInteger('sender uid');
  const pid = cursor.readInteger('sender pid');
  // What the general decoder would refuse or read otherwise (negative, or past 2^53) is left to it.
  if (uid < 0 || pid < 0 || !Number.isSafeInteger(uid) || !Number.isSafeInteger(pid)) throw new RangeError('not a plain pair');
  return { uid, pid };
}

/** A msgpack map as unpacked: an object that is not an array or binary data. */
export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
