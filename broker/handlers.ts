import {
  BROKER_FRAME_MARGIN_BYTES,
  encodeBody,
  ErrorCode,
  MAX_HEADER_BYTES,
  MAX_HEADER_ENTRIES,
  MAX_TOPIC_BYTES,
  MessageKind,
  patternProblem,
  PROTOCOL_VERSION,
  publishRefusal,
  ProtocolError,
  queueNameProblem,
  type ClientMessage,
  type Hello,
  type PublishFrame,
  type Refusal,
  type RespondFrame,
  type Subscribe,
  type Unsubscribe,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import type { BrokerLimits } from './options.js';
import type { RequestRefusal } from './request-routing.js';
import { subscriptionRefusal } from './subscription-limits.js';
import type { SubscriptionSet } from './subscription-set.js';

/** What the handlers need from the broker. */
export interface HandlerContext {
  readonly serverName: string;
  readonly limits: BrokerLimits;
  /** Whether deliveries carry their senders' credentials (the broker can read them). */
  readonly stampsSenders: boolean;
  opened(connection: Connection): void;
  /** Counts an access-policy refusal; the caller reports it. */
  noteDenied(connection: Connection): void;
  publish(publish: PublishFrame, from: Connection): void;
  request(publish: PublishFrame & { requestId: number }, from: Connection): void;
  /** Answers a request with the broker's own error, as a reply for its id. */
  refuseRequest(requester: Connection, requestId: number, refusal: RequestRefusal): void;
  respond(respond: RespondFrame, from: Connection): void;
  subscribe(connection: Connection, subscribe: Subscribe & { pattern: string }): void;
  /** What a connection holds now. */
  subscriptionsOf(connection: Connection): Readonly<SubscriptionSet>;
  unsubscribe(connection: Connection, subscriptionId: number): void;
  /** Answers a stats request, at the asker's user's rate. */
  stats(asker: Connection, token: number): void;
}

/** The one dispatch point: every message a client sends goes through this switch. */
export function handleClientMessage(context: HandlerContext, connection: Connection, message: ClientMessage): void {
  if (connection.state === 'handshake' && message.kind !== MessageKind.Hello) {
    throw new ProtocolError(ErrorCode.HandshakeRequired, 'the first message on a connection must be hello', undefined, { kind: message.kind });
  }
  switch (message.kind) {
    case MessageKind.Hello:
      return handleHello(context, connection, message);
    case MessageKind.Publish:
      return handlePublish(context, connection, message);
    case MessageKind.Subscribe:
      return handleSubscribe(context, connection, message);
    case MessageKind.Unsubscribe:
      return handleUnsubscribe(context, connection, message);
    case MessageKind.Respond:
      return context.respond(message, connection);
    case MessageKind.Ping:
      return connection.send(encodeBody({ kind: MessageKind.Pong, token: message.token }));
    case MessageKind.Pong:
      return;
    case MessageKind.StatsRequest:
      return context.stats(connection, message.token);
    case MessageKind.GoingAway:
      return connection.noteGoodbye(message.reason);
  }
}

function handleHello(context: HandlerContext, connection: Connection, hello: Hello): void {
  const about = { kind: MessageKind.Hello };
  if (connection.state !== 'handshake') {
    throw new ProtocolError(ErrorCode.InvalidMessage, 'hello was already received on this connection', undefined, about);
  }
  if (hello.version !== PROTOCOL_VERSION) {
    const message = `protocol version ${hello.version} is not supported; this broker speaks version ${PROTOCOL_VERSION}`;
    throw new ProtocolError(ErrorCode.UnsupportedVersion, message, undefined, about);
  }
  connection.open(hello);
  const { limits } = context;
  connection.send(
    encodeBody({
      kind: MessageKind.Welcome,
      version: PROTOCOL_VERSION,
      connectionId: connection.id,
      server: context.serverName,
      senders: context.stampsSenders,
      maxFrameBytes: limits.maxFrameBytes,
      maxBrokerFrameBytes: limits.maxFrameBytes + BROKER_FRAME_MARGIN_BYTES,
      maxTopicBytes: MAX_TOPIC_BYTES,
      maxPatternTokens: limits.maxPatternTokens,
      maxPatternWildcards: limits.maxPatternWildcards,
      maxHeaderEntries: MAX_HEADER_ENTRIES,
      maxHeaderBytes: MAX_HEADER_BYTES,
      maxSubscriptions: limits.maxSubscriptionsPerConnection,
      maxRequests: limits.maxPendingRequests,
      maxPendingBytes: limits.maxPendingBytes,
      keepaliveMs: limits.keepaliveMs,
    }),
  );
  context.opened(connection);
}

/**
 * Checks a publish in the order of PROTOCOL.md §3.3. A refused plain
 * publish gets an error naming its topic; a refused request gets a reply
 * for its id, so its requester never waits for a timeout.
 */
function handlePublish(context: HandlerContext, connection: Connection, publish: PublishFrame): void {
  const refusal = publishFrameRefusal(connection, publish);
  if (refusal) {
    if (refusal.code === ErrorCode.AccessDenied) context.noteDenied(connection);
    if (publish.requestId !== undefined) return context.refuseRequest(connection, publish.requestId, refusal);
    return connection.refuseFrame(refusal, publish.refusal?.code === ErrorCode.InvalidTopic ? { kind: MessageKind.Publish } : { kind: MessageKind.Publish, topic: publish.topic });
  }
  connection.counters.messagesIn++;
  if (publish.requestId === undefined) return context.publish(publish, connection);
  context.request(publish as PublishFrame & { requestId: number }, connection);
}

function publishFrameRefusal(connection: Connection, publish: PublishFrame): Refusal | null {
  if (publish.refusal?.code === ErrorCode.InvalidTopic) return publish.refusal;
  const topicRefusal = publishRefusal(publish.topic);
  if (topicRefusal) return topicRefusal;
  if (publish.refusal) return publish.refusal;
  if (publish.retain && publish.requestId !== undefined) {
    return { code: ErrorCode.InvalidOptions, message: `a publish cannot be both a request and retained (on ${publish.topic})` };
  }
  const denial = connection.access.publishRefusal(publish.topic);
  return denial ? { code: ErrorCode.AccessDenied, message: denial } : null;
}

/** Answers every subscribe with exactly one of: subscribed, a refusal naming the id, or SUBSCRIPTION_ID_IN_USE (PROTOCOL.md §3.4). */
function handleSubscribe(context: HandlerContext, connection: Connection, subscribe: Subscribe): void {
  const { subscriptionId } = subscribe;
  if (context.subscriptionsOf(connection).has(subscriptionId)) {
    const message = `subscription id ${subscriptionId} is already in use on this connection; that subscription stays as it was`;
    return connection.refuseFrame({ code: ErrorCode.SubscriptionIdInUse, message }, { kind: MessageKind.Subscribe, inUse: subscriptionId });
  }
  const refusal = subscribeRefusal(context, connection, subscribe);
  if (refusal) {
    if (refusal.code === ErrorCode.AccessDenied) context.noteDenied(connection);
    return connection.refuseFrame(refusal, { kind: MessageKind.Subscribe, sub: subscriptionId });
  }
  context.subscribe(connection, subscribe as Subscribe & { pattern: string });
}

function subscribeRefusal(context: HandlerContext, connection: Connection, { pattern, queue }: Subscribe): Refusal | null {
  if (pattern === null) return { code: ErrorCode.InvalidPattern, message: 'invalid pattern: not valid UTF-8' };
  const problem = patternProblem(pattern);
  if (problem) return { code: ErrorCode.InvalidPattern, message: problem };
  const queueProblem = queue === undefined ? null : queueNameProblem(queue);
  if (queueProblem) return { code: ErrorCode.InvalidQueue, message: queueProblem };
  const limit = subscriptionRefusal(connection, context.subscriptionsOf(connection), pattern, queue, context.limits);
  if (limit) return limit;
  const denial = connection.access.subscribeRefusal(pattern) ?? (queue === undefined ? null : connection.access.queueRefusal(queue));
  return denial ? { code: ErrorCode.AccessDenied, message: denial } : null;
}

function handleUnsubscribe(context: HandlerContext, connection: Connection, unsubscribe: Unsubscribe): void {
  // Unknown ids are ignored: unsubscribing twice is harmless, as in NATS.
  if (!context.subscriptionsOf(connection).has(unsubscribe.subscriptionId)) return;
  context.unsubscribe(connection, unsubscribe.subscriptionId);
}
