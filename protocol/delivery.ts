import { BoundedCache } from './bounded-cache.js';
import { MessageKind, NIL, packer, type DeliveryInfo, type PublishFrame, type RespondFrame, type Sender } from './messages.js';

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

/** `[6, ` for a delivery of three or four elements: the only bytes a plain delivery does not share with its publish. */
const PLAIN_PREFIXES = [Buffer.from([0x93, MessageKind.Message]), Buffer.from([0x94, MessageKind.Message])] as const;
/** `[6, ` for a delivery with the broker's info element. */
const INFO_PREFIX = Buffer.from([0x95, MessageKind.Message]);

/** `{sub: id}` per subscription id: every queue-group delivery carries one. */
const subscriptionInfos = new BoundedCache<number, Buffer>();

function encodeInfo(info: DeliveryInfo): Buffer {
  if (info.reply === undefined && !info.retained && info.sender === undefined && info.sub !== undefined) {
    return subscriptionInfos.get(info.sub) ?? subscriptionInfos.set(info.sub, packer.pack({ sub: info.sub }));
  }
  // Only the keys that are set: an absent key and a nil one mean different things to a reader.
  const present: DeliveryInfo = {};
  if (info.reply !== undefined) present.reply = info.reply;
  if (info.retained) present.retained = true;
  if (info.sub !== undefined) present.sub = info.sub;
  if (info.sender !== undefined) present.sender = info.sender;
  return packer.pack(present);
}

/** A sender with its info element encoded once, for the connection's every publish. */
export class SenderStamp {
  readonly info: Buffer;

  constructor(readonly sender: Sender) {
    this.info = packer.pack({ sender });
  }
}

/** A value on its way to subscribers: the body each kind of receiver gets. */
export interface OutgoingMessage {
  readonly topic: string;
  /** The body for every plain subscriber. */
  plainParts(): BodyParts;
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

  plainParts(): BodyParts {
    const { publish, stamp } = this;
    if (this.reply !== undefined) return this.withInfo(encodeInfo({ reply: this.reply, sender: stamp?.sender }));
    if (stamp) return this.withInfo(stamp.info);
    return [PLAIN_PREFIXES[publish.hasHeaders ? 1 : 0], publish.body.subarray(publish.topicOffset, publish.forwardEnd)];
  }

  partsFor(subscriptionId: number): BodyParts {
    return this.withInfo(encodeInfo({ reply: this.reply, sub: subscriptionId, sender: this.stamp?.sender }));
  }

  private withInfo(info: Buffer): BodyParts {
    const { publish } = this;
    return [INFO_PREFIX, publish.body.subarray(publish.topicOffset, publish.dataEnd), headersOf(publish), info];
  }
}

/** A message the broker itself publishes, such as a `$SYS.` event. */
export class BrokerEventMessage implements OutgoingMessage {
  private readonly body: Buffer;

  constructor(
    readonly topic: string,
    private readonly data: unknown,
    private readonly sender: Sender | undefined,
  ) {
    this.body = sender
      ? Buffer.concat([INFO_PREFIX, packer.pack(topic), packer.pack(data), NIL, encodeInfo({ sender })])
      : packer.pack([MessageKind.Message, topic, data]);
  }

  plainParts(): BodyParts {
    return [this.body];
  }

  partsFor(subscriptionId: number): BodyParts {
    return [Buffer.concat([INFO_PREFIX, packer.pack(this.topic), packer.pack(this.data), NIL, encodeInfo({ sub: subscriptionId, sender: this.sender })])];
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
  return [INFO_PREFIX, value.topicAndData, value.headers, encodeInfo({ retained: true, sub: subscriptionId, sender: value.sender })];
}

/**
 * A reply as the requester gets it: `[15, requestId, ...]` followed by the
 * responder's data, headers and error, forwarded as they were sent.
 */
export function replyParts(respond: RespondFrame, requestId: number): BodyParts {
  const prefix = packer.pack(requestId);
  const head = Buffer.allocUnsafe(2 + prefix.length);
  head[0] = 0x90 | (2 + respond.answerElements);
  head[1] = MessageKind.Reply;
  head.set(prefix, 2);
  return [head, respond.body.subarray(respond.dataOffset)];
}

function headersOf(publish: PublishFrame): Buffer {
  return publish.hasHeaders ? publish.body.subarray(publish.dataEnd, publish.forwardEnd) : NIL;
}
