import { BoundedCache } from './bounded-cache.js';
import { encodeFrame } from './frame.js';
import {
  MessageKind,
  type BrokerMessage,
  type ClientMessage,
  type Headers,
  type PublishFlags,
  type PublishFrame,
  type ReplyError,
  type RespondFrame,
} from './kinds.js';
import { NIL, packer } from './msgpack.js';

/** Any message except the frames the broker forwards without decoding; a client encodes those with their own functions. */
export type EncodableMessage = Exclude<ClientMessage | BrokerMessage, PublishFrame | RespondFrame>;

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
export function encodeRespondBody(replyTo: string, data: unknown, headers?: Headers, error?: Partial<ReplyError>): Uint8Array {
  return packer.pack([MessageKind.Respond, replyTo, data, headers ?? null, error ? replyErrorMap(error) : null]);
}

/** Only the keys that are set: the broker fills in a missing code (REQUEST_FAILED) or message. */
function replyErrorMap({ code, message }: Partial<ReplyError>): Partial<ReplyError> {
  const map: Partial<ReplyError> = {};
  if (code !== undefined) map.code = code;
  if (message !== undefined) map.message = message;
  return map;
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
      // The order of PROTOCOL.md §7's example; a reader may not depend on it.
      const { kind, version, connectionId, server, senders, maxFrameBytes, maxBrokerFrameBytes, maxTopicBytes, maxPatternTokens } = message;
      const { maxPatternWildcards, maxHeaderEntries, maxHeaderBytes, maxSubscriptions, maxRequests, maxPendingBytes, keepaliveMs } = message;
      const info = { version, connectionId, server, senders, maxFrameBytes, maxBrokerFrameBytes, maxTopicBytes, maxPatternTokens };
      return packer.pack([kind, { ...info, maxPatternWildcards, maxHeaderEntries, maxHeaderBytes, maxSubscriptions, maxRequests, maxPendingBytes, keepaliveMs }]);
    }
    case MessageKind.Subscribe:
      return packer.pack(
        message.queue === undefined
          ? [message.kind, message.subscriptionId, message.pattern]
          : [message.kind, message.subscriptionId, message.pattern, { queue: message.queue }],
      );
    case MessageKind.Unsubscribe:
      return packer.pack([message.kind, message.subscriptionId]);
    case MessageKind.Message: {
      const sender = message.sender ? [message.sender.uid, message.sender.pid] : null;
      return packer.pack([message.kind, message.topic, message.data, message.headers ?? null, message.info ?? null, sender]);
    }
    case MessageKind.Reply:
      // The broker's own replies (no responders) have the fixed shape too, with no sender.
      return packer.pack([message.kind, message.requestId, message.data, message.headers ?? null, message.error ?? null, null]);
    case MessageKind.Ping:
    case MessageKind.Pong:
    case MessageKind.StatsRequest:
      return packer.pack([message.kind, message.token]);
    case MessageKind.Subscribed:
      return packer.pack([message.kind, message.subscriptionId]);
    case MessageKind.Error:
      return packer.pack([message.kind, message.code, message.message, message.about ?? null]);
    case MessageKind.GoingAway:
      return packer.pack([message.kind, message.reason]);
    case MessageKind.Dropped:
      return packer.pack([message.kind, message.count]);
    case MessageKind.Stats:
      return packer.pack([message.kind, message.token, message.stats]);
  }
}

