import { BoundedCache, MessageKind, NIL, packer, type DeliveryInfo, type PublishFrame, type RespondFrame, type Sender } from '../protocol/index.js';

/**
 * The bodies the broker sends: deliveries built from the publisher's own
 * bytes, so payloads are forwarded without being decoded or re-encoded, and
 * the parts of one body serve every receiver.
 */

/** A body as parts to be written one after another. */
export type BodyParts = readonly Uint8Array[];

export function partsLength(parts: BodyParts): number {
  let length = 0;
  for (const part of parts) length += part.length;
  return length;
}

/** `[6, `: every delivery has the fixed six elements (PROTOCOL.md §3.7). */
const MESSAGE_PREFIX = Buffer.from([0x96, MessageKind.Message]);
/** `nil, nil, nil`: no headers, no info, no sender; `nil, nil`: no info, no sender. */
const NO_HEADERS_INFO_SENDER = Buffer.from([0xc0, 0xc0, 0xc0]);
const NO_INFO_SENDER = Buffer.from([0xc0, 0xc0]);

/** `{sub: id}` per subscription id: every queue-group delivery carries one. */
const subscriptionInfos = new BoundedCache<number, Buffer>();

function encodeInfo(info: DeliveryInfo): Buffer {
  if (info.reply === undefined && !info.retained && info.sub !== undefined) {
    return subscriptionInfos.get(info.sub) ?? subscriptionInfos.set(info.sub, packer.pack({ sub: info.sub }));
  }
  // Only the keys that are set: an absent key and a nil one mean different things to a reader.
  const present: DeliveryInfo = {};
  if (info.reply !== undefined) present.reply = info.reply;
  if (info.retained) present.retained = true;
  if (info.sub !== undefined) present.sub = info.sub;
  return packer.pack(present);
}

/** The sender element, `[uid, pid]`: an array, not a map, because every message carries one and it must cost little to read. */
function encodeSender(sender: Sender): Buffer {
  return packer.pack(sender.via === undefined ? [sender.uid, sender.pid] : [sender.uid, sender.pid, sender.via]);
}

/** A sender with its element encoded once, for the connection's every publish. */
export class SenderStamp {
  readonly encoded: Buffer;
  /** `nil, sender`: what follows the headers of a plain delivery. */
  readonly afterHeaders: Buffer;
  /** `nil, nil, sender`: what follows the data of a plain delivery without headers. */
  readonly afterData: Buffer;

  constructor(readonly sender: Sender) {
    this.encoded = encodeSender(sender);
    this.afterHeaders = Buffer.concat([NIL, this.encoded]);
    this.afterData = Buffer.concat([NIL, NIL, this.encoded]);
  }
}

/** A delivery with the elements after the headers: the info map and the sender, each nil when there is none. */
function withExtras(topicAndData: Uint8Array, headers: Uint8Array, info: Buffer | null, sender: Buffer | null): BodyParts {
  return [MESSAGE_PREFIX, topicAndData, headers, info ?? NIL, sender ?? NIL];
}

/** A value on its way to subscribers: the body each kind of receiver gets. */
export interface OutgoingMessage {
  readonly topic: string;
  /** The body for every plain subscriber. */
  plainParts(): BodyParts;
  /** A request goes to one subscription per connection, always through partsFor (PROTOCOL.md §3.12). */
  readonly isRequest: boolean;
  /** The body for one subscription only (a queue group member), marked with its id. */
  partsFor(subscriptionId: number): BodyParts;
}

/**
 * A client's publish, or its request when `reply` is given, stamped with
 * its sender when the broker knows it.
 */
export class PublishedMessage implements OutgoingMessage {
  constructor(
    private readonly publish: PublishFrame,
    private readonly stamp: SenderStamp | null,
    private readonly reply?: string,
  ) {}

  get topic(): string {
    return this.publish.topic;
  }

  get isRequest(): boolean {
    return this.reply !== undefined;
  }

  plainParts(): BodyParts {
    const { publish, stamp } = this;
    // The hot path: a plain publish. Its bytes go out as they came, in as few parts as possible.
    const forwarded = publish.body.subarray(publish.topicOffset, publish.forwardEnd);
    if (!stamp) return [MESSAGE_PREFIX, forwarded, publish.hasHeaders ? NO_INFO_SENDER : NO_HEADERS_INFO_SENDER];
    return [MESSAGE_PREFIX, forwarded, publish.hasHeaders ? stamp.afterHeaders : stamp.afterData];
  }

  partsFor(subscriptionId: number): BodyParts {
    return this.withExtras(encodeInfo({ reply: this.reply, sub: subscriptionId }));
  }

  private withExtras(info: Buffer | null): BodyParts {
    const { publish } = this;
    return withExtras(publish.body.subarray(publish.topicOffset, publish.dataEnd), headersOf(publish), info, this.stamp?.encoded ?? null);
  }
}

/** A message the broker itself publishes, such as a `$SYS.` event. */
export class BrokerEventMessage implements OutgoingMessage {
  private readonly topicAndData: Buffer;
  private readonly sender: Buffer | null;

  constructor(
    readonly topic: string,
    data: unknown,
    sender: Sender | undefined,
  ) {
    this.topicAndData = Buffer.concat([packer.pack(topic), packer.pack(data)]);
    this.sender = sender ? encodeSender(sender) : null;
  }

  readonly isRequest = false;

  plainParts(): BodyParts {
    return withExtras(this.topicAndData, NIL, null, this.sender);
  }

  partsFor(subscriptionId: number): BodyParts {
    return withExtras(this.topicAndData, NIL, encodeInfo({ sub: subscriptionId }), this.sender);
  }
}

/** A published value as kept for later subscribers: copied out of the frame, which may share a larger read buffer. */
export interface KeptValue {
  /** The encoded topic followed by the encoded data. */
  readonly topicAndData: Buffer;
  /** The encoded headers, or a nil byte. */
  readonly headers: Buffer;
  /** Who published it, when known. */
  readonly sender?: Sender;
}

export function keptValueOf(publish: PublishFrame, sender?: Sender): KeptValue {
  const value = {
    topicAndData: Buffer.from(publish.body.subarray(publish.topicOffset, publish.dataEnd)),
    headers: publish.hasHeaders ? Buffer.from(headersOf(publish)) : NIL,
  };
  return sender ? { ...value, sender } : value;
}

/** A publish whose data is nil: with retain, it clears the topic's kept value. */
export function hasNilData(publish: PublishFrame): boolean {
  return publish.dataEnd - publish.dataOffset === 1 && publish.body[publish.dataOffset] === 0xc0;
}

/** The delivery of a retained value to the one new subscription whose pattern matched it. */
export function retainedParts(value: KeptValue, subscriptionId: number): BodyParts {
  const sender = value.sender ? encodeSender(value.sender) : null;
  return withExtras(value.topicAndData, value.headers, encodeInfo({ retained: true, sub: subscriptionId }), sender);
}

/** `[15, ` with the reply's fixed six elements. */
const REPLY_PREFIX = Buffer.from([0x96, MessageKind.Reply]);

/**
 * A reply as the requester gets it, always in one shape, built by the
 * broker: `[15, requestId, data, headers or nil, error or nil, sender or nil]`.
 * Data and headers are the responder's bytes; the error is re-encoded from
 * its checked fields; the sender is the responder's kernel credentials.
 * Nothing else the responder sent is forwarded.
 */
export function replyParts(respond: RespondFrame, requestId: number, responder: SenderStamp | null): BodyParts {
  const { body, dataOffset, dataEnd, headersOffset, headersEnd, error } = respond;
  return [
    REPLY_PREFIX,
    packer.pack(requestId),
    body.subarray(dataOffset, dataEnd),
    headersEnd > headersOffset ? body.subarray(headersOffset, headersEnd) : NIL,
    error ? packer.pack({ code: error.code, message: error.message }) : NIL,
    responder?.encoded ?? NIL,
  ];
}

function headersOf(publish: PublishFrame): Buffer {
  return publish.hasHeaders ? publish.body.subarray(publish.dataEnd, publish.forwardEnd) : NIL;
}
