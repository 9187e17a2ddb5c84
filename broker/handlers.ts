import {
  encodeBody,
  ErrorCode,
  MAX_TOPIC_BYTES,
  MessageKind,
  patternProblem,
  PROTOCOL_VERSIONS,
  publishRefusal,
  ProtocolError,
  queueNameProblem,
  type ClientMessage,
  type Hello,
  type PublishFrame,
  type RespondFrame,
  type Subscribe,
  type Unsubscribe,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import type { BrokerLimits } from './options.js';
import { subscriptionRefusal } from './subscription-limits.js';

/** What the handlers need from the broker. */
export interface HandlerContext {
  readonly serverName: string;
  readonly limits: BrokerLimits;
  opened(connection: Connection): void;
  /** Refuses what the access policy does not allow, and counts it. */
  deny(connection: Connection, refusal: string, subscriptionId?: number): void;
  publish(publish: PublishFrame, from: Connection): void;
  request(publish: PublishFrame & { requestId: number }, from: Connection): void;
  respond(respond: RespondFrame, from: Connection): void;
  subscribe(connection: Connection, subscribe: Subscribe): void;
  unsubscribe(connection: Connection, subscriptionId: number): void;
  /** Answers a stats request, at the asker's user's rate. */
  stats(asker: Connection, token: number): void;
}

/** The one dispatch point: every message a client sends goes through this switch. */
export function handleClientMessage(context: HandlerContext, connection: Connection, message: ClientMessage): void {
  if (connection.state === 'handshake' && message.kind !== MessageKind.Hello) {
    throw new ProtocolError(ErrorCode.HandshakeRequired, 'the first message on a connection must be hello');
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
  if (connection.state !== 'handshake') {
    throw new ProtocolError(ErrorCode.InvalidMessage, 'hello was already received on this connection');
  }
  if (!PROTOCOL_VERSIONS.includes(hello.version)) {
    throw new ProtocolError(
      ErrorCode.UnsupportedVersion,
      `protocol version ${hello.version} is not supported; this broker speaks version ${PROTOCOL_VERSIONS.join(', ')}`,
    );
  }
  connection.open(hello);
  connection.send(
    encodeBody({
      kind: MessageKind.Welcome,
      version: hello.version,
      connectionId: connection.id,
      server: context.serverName,
      maxFrameBytes: context.limits.maxFrameBytes,
      maxTopicBytes: MAX_TOPIC_BYTES,
      maxPendingBytes: context.limits.maxPendingBytes,
    }),
  );
  context.opened(connection);
}

function handlePublish(context: HandlerContext, connection: Connection, publish: PublishFrame): void {
  const refusal = publishRefusal(publish.topic);
  if (refusal) return connection.refuse(refusal.code, refusal.message);
  const denial = connection.access.publishRefusal(publish.topic);
  if (denial) return context.deny(connection, denial);
  connection.counters.messagesIn++;
  if (publish.requestId === undefined) return context.publish(publish, connection);
  if (publish.retain) return connection.refuse(ErrorCode.InvalidMessage, `a request cannot be retained (request on ${publish.topic})`);
  context.request(publish as PublishFrame & { requestId: number }, connection);
}

function handleSubscribe(context: HandlerContext, connection: Connection, subscribe: Subscribe): void {
  const { subscriptionId, pattern, queue } = subscribe;
  const problem = patternProblem(pattern);
  if (problem) return connection.refuse(ErrorCode.InvalidPattern, problem, subscriptionId);
  const queueProblem = queue === undefined ? null : queueNameProblem(queue);
  if (queueProblem) return connection.refuse(ErrorCode.InvalidQueue, queueProblem, subscriptionId);
  if (connection.subscriptions.has(subscriptionId)) {
    return connection.refuse(ErrorCode.InvalidMessage, `subscription id ${subscriptionId} is already in use on this connection`, subscriptionId);
  }
  const limit = subscriptionRefusal(connection, pattern, queue, context.limits);
  if (limit) return connection.refuse(limit.code, limit.message, subscriptionId);
  const denial = connection.access.subscribeRefusal(pattern) ?? (queue === undefined ? null : connection.access.queueRefusal(queue));
  if (denial) return context.deny(connection, denial, subscriptionId);
  context.subscribe(connection, subscribe);
}

function handleUnsubscribe(context: HandlerContext, connection: Connection, unsubscribe: Unsubscribe): void {
  // Unknown ids are ignored: unsubscribing twice is harmless, as in NATS.
  if (!connection.subscriptions.has(unsubscribe.subscriptionId)) return;
  context.unsubscribe(connection, unsubscribe.subscriptionId);
}
