import { ErrorCode, ProtocolError, type ErrorAbout } from './errors.js';
import {
  MessageKind,
  kindName,
  type ClientMessage,
  type Hello,
  type PublishFrame,
  type Refusal,
  type ReplyError,
  type RespondFrame,
  type Subscribe,
} from './kinds.js';
import { MAX_CLIENT_NAME_BYTES } from './limits.js';
import { MsgpackCursor, NOT_AN_INTEGER, OTHER_VALUE, type OptionValue } from './msgpack-cursor.js';
import { TextMemo } from './text-memo.js';
import { PROTOCOL_VERSION } from './version.js';

/** Topics repeat: the broker decodes each distinct one once, not once per publish. */
const topics = new TextMemo();

/** The kinds a client may send. */
const CLIENT_KINDS: ReadonlySet<number> = new Set([
  MessageKind.Hello,
  MessageKind.Publish,
  MessageKind.Subscribe,
  MessageKind.Unsubscribe,
  MessageKind.Ping,
  MessageKind.Pong,
  MessageKind.StatsRequest,
  MessageKind.Respond,
  MessageKind.GoingAway,
]);

/**
 * Decodes a frame body from a client, in place: nothing is built that the
 * broker does not need, payloads are only checked and skipped, and every
 * integer and string is held to PROTOCOL.md §3.0. Throws a ProtocolError
 * (with `about.kind` once the kind is known) for what closes the
 * connection; what only refuses the frame is returned in `refusal`.
 */
export function decodeClientMessage(body: Buffer): ClientMessage {
  const cursor = new MsgpackCursor(body);
  const length = cursor.readArrayLength();
  if (length === 0) throw invalid('a message is an array whose first element is its kind');
  const kind = cursor.readInteger('the kind');
  if (!CLIENT_KINDS.has(kind)) {
    const what = Object.values(MessageKind).includes(kind as never) ? `${kindName(kind)} (kind ${kind}) is sent only by brokers` : `unknown message kind ${kind}`;
    throw new ProtocolError(ErrorCode.UnknownMessageKind, `${what} from a client`, undefined, { kind });
  }
  try {
    const message = decodeKind(body, cursor, kind, length);
    if (!cursor.atEnd) throw trailing();
    return message;
  } catch (error) {
    if (error instanceof ProtocolError) error.about ??= { kind };
    throw error;
  }
}

function decodeKind(body: Buffer, cursor: MsgpackCursor, kind: number, length: number): ClientMessage {
  switch (kind) {
    case MessageKind.Publish:
      return decodePublish(body, cursor, length);
    case MessageKind.Respond:
      return decodeRespond(body, cursor, length);
    case MessageKind.Hello:
      return withTrailing(cursor, length, 2, decodeHello(cursor, length));
    case MessageKind.Subscribe:
      return withTrailing(cursor, length, 4, decodeSubscribe(cursor, length));
    case MessageKind.Unsubscribe:
      need(length, 2, 'unsubscribe: expected [5, id]');
      return withTrailing(cursor, length, 2, { kind, subscriptionId: cursor.readUint('the subscription id') });
    case MessageKind.GoingAway:
      need(length, 2, 'going-away: expected [10, reason]');
      return withTrailing(cursor, length, 2, { kind, reason: cursor.readString('going-away reason') });
    default: {
      // ping, pong, stats-request: [kind, token]
      const name = kindName(kind);
      need(length, 2, `${name}: expected [${kind}, token]`);
      return withTrailing(cursor, length, 2, { kind: kind as 7 | 8 | 12, token: cursor.readUint(`the ${name} token`) });
    }
  }
}

function decodeHello(cursor: MsgpackCursor, length: number): Hello {
  need(length, 2, 'hello: expected [1, {"version": 2}]');
  const options = cursor.readOptions('hello options');
  if (!options) throw invalid('hello: element 1 must be a map');
  const version = options.get('version');
  if (typeof version !== 'number' || version < 0) {
    throw invalid(`hello: "version" must be an integer (this broker speaks version ${PROTOCOL_VERSION})`);
  }
  const name = optionalOption(options, 'name', 'string', 'hello');
  const nameBytes = name === undefined ? 0 : Buffer.byteLength(name);
  if (nameBytes > MAX_CLIENT_NAME_BYTES) throw invalid(`hello: "name" is ${nameBytes} bytes, longer than the limit of ${MAX_CLIENT_NAME_BYTES} bytes`);
  const noEcho = optionalOption(options, 'noEcho', 'boolean', 'hello');
  return { kind: MessageKind.Hello, version, name, noEcho };
}

function decodeSubscribe(cursor: MsgpackCursor, length: number): Subscribe {
  need(length, 3, 'subscribe: expected [4, id, pattern]');
  const subscriptionId = cursor.readUint('the subscription id');
  const pattern = cursor.readText('pattern');
  const subscribe: Subscribe = { kind: MessageKind.Subscribe, subscriptionId, pattern };
  if (length >= 4) {
    const options = cursor.readOptions('subscribe options');
    const queue = options && optionalOption(options, 'queue', 'string', 'subscribe');
    if (queue !== undefined) subscribe.queue = queue;
  }
  return subscribe;
}

function decodePublish(body: Buffer, cursor: MsgpackCursor, length: number): PublishFrame {
  need(length, 3, 'publish: expected [3, topic, data] or [3, topic, data, headers]');
  const topicOffset = cursor.offset;
  // A topic that is not text is refused like any invalid topic: the frame itself is sound.
  const topic = cursor.readText('topic', topics);
  let refusal: Refusal | null = topic === null ? { code: ErrorCode.InvalidTopic, message: 'invalid topic: not valid UTF-8' } : null;
  const dataOffset = cursor.offset;
  const dataEnd = skipData(cursor);
  refusal ??= textRefusal(cursor, 'publish data');
  const hasHeaders = length >= 4 && !cursor.isNil();
  if (length >= 4) {
    if (hasHeaders) refusal ??= cursor.readHeaders('publish headers');
    else cursor.skipValue();
  }
  // Data + headers are forwarded, and a nil headers element is dropped with them.
  const forwardEnd = hasHeaders ? cursor.offset : dataEnd;
  let retain = false;
  let requestId: number | undefined;
  if (length >= 5) {
    const options = cursor.readOptions('publish options');
    if (options) {
      retain = optionalOption(options, 'retain', 'boolean', 'publish') ?? false;
      requestId = optionalOption(options, 'request', 'uint', 'publish');
    }
  }
  skipTrailing(cursor, length, 5);
  return { kind: MessageKind.Publish, topic: topic ?? '', body, topicOffset, dataOffset, dataEnd, forwardEnd, hasHeaders, retain, requestId, refusal };
}

/**
 * `[14, replyTo, data, headers, error]`, read in place: the data is only
 * skipped, never decoded, and later elements are ignored (extension room).
 * The broker builds the reply from these spans, so nothing else the
 * responder sends reaches the requester.
 */
function decodeRespond(body: Buffer, cursor: MsgpackCursor, length: number): RespondFrame {
  need(length, 3, 'respond: expected [14, replyTo, data, headers, error]');
  const replyTo = cursor.readString('reply address');
  const dataOffset = cursor.offset;
  const dataEnd = skipData(cursor);
  let refusal: Refusal | null = textRefusal(cursor, 'respond data');
  let headersOffset = dataEnd;
  let headersEnd = dataEnd;
  if (length >= 4) {
    if (cursor.isNil()) {
      cursor.skipValue();
    } else {
      headersOffset = cursor.offset;
      refusal ??= cursor.readHeaders('respond headers');
      headersEnd = cursor.offset;
    }
  }
  let error: ReplyError | undefined;
  if (length >= 5) {
    const errorMap = cursor.readOptions('respond error');
    if (errorMap) {
      const code = optionalOption(errorMap, 'code', 'string', 'respond error');
      const message = optionalOption(errorMap, 'message', 'string', 'respond error');
      error = { code: code ?? ErrorCode.RequestFailed, message: message ?? '' };
    }
  }
  skipTrailing(cursor, length, 5);
  return { kind: MessageKind.Respond, replyTo, body, dataOffset, dataEnd, headersOffset, headersEnd, error, refusal };
}

/** Skips a data element, watching its strings; returns where it ends. */
function skipData(cursor: MsgpackCursor): number {
  cursor.invalidTextAt = -1;
  cursor.skipValue();
  return cursor.offset;
}

function textRefusal(cursor: MsgpackCursor, what: string): Refusal | null {
  if (cursor.invalidTextAt === -1) return null;
  return { code: ErrorCode.InvalidData, message: `${what} holds a string that is not valid UTF-8 (at byte ${cursor.invalidTextAt}); bytes that are not text belong in bin` };
}

/** Elements after the known ones: ignored, but well-formed and text where text. */
function skipTrailing(cursor: MsgpackCursor, length: number, known: number): void {
  cursor.invalidTextAt = -1;
  for (let index = known; index < length; index++) cursor.skipValue();
  if (cursor.invalidTextAt !== -1) throw invalid(`a string that is not valid UTF-8 at byte ${cursor.invalidTextAt}`);
}

function withTrailing<M extends ClientMessage>(cursor: MsgpackCursor, length: number, known: number, message: M): M {
  skipTrailing(cursor, length, known);
  return message;
}

type OptionType = 'string' | 'boolean' | 'uint';
type OptionOf<T extends OptionType> = T extends 'string' ? string : T extends 'boolean' ? boolean : number;

/** An option that is nil or absent (undefined), or of the type asked for; anything else closes the connection. */
function optionalOption<T extends OptionType>(options: Map<string, OptionValue>, key: string, type: T, what: string): OptionOf<T> | undefined {
  const value = options.get(key);
  if (value === undefined || value === null) return undefined;
  const ok = type === 'uint' ? typeof value === 'number' && value >= 0 && value <= 0xffffffff : typeof value === type;
  if (ok) return value as OptionOf<T>;
  const expected = type === 'uint' ? 'an integer from 0 to 4294967295' : type === 'string' ? 'a string' : 'a boolean';
  const got = value === NOT_AN_INTEGER ? ' (a float is not an integer)' : value === OTHER_VALUE ? '' : ` (got ${JSON.stringify(value)})`;
  throw invalid(`${what}: "${key}" must be ${expected}${got}`);
}

function need(length: number, minimum: number, message: string): void {
  if (length < minimum) throw invalid(message);
}

function invalid(message: string, about?: ErrorAbout): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidMessage, message, undefined, about);
}

function trailing(): ProtocolError {
  return new ProtocolError(ErrorCode.MalformedFrame, 'bytes after the end of the msgpack value: a frame holds exactly one value');
}
