import {
  encodeBody,
  ErrorCode,
  MAX_TOPIC_BYTES,
  MessageKind,
  patternProblem,
  PROTOCOL_VERSIONS,
  publishRefusal,
  ProtocolError,
  type ClientMessage,
  type Hello,
  type PublishFrame,
  type Subscribe,
  type Unsubscribe,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import type { BrokerLimits } from './options.js';

/** What the handlers need from the broker. */
export interface HandlerContext {
  readonly serverName: string;
  readonly limits: BrokerLimits;
  route(publish: PublishFrame, from: Connection): void;
  addSubscription(connection: Connection, pattern: string): void;
  removeSubscription(connection: Connection, pattern: string): void;
  snapshot(): Record<string, unknown>;
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
    case MessageKind.Ping:
      return connection.send(encodeBody({ kind: MessageKind.Pong, token: message.token }));
    case MessageKind.Pong:
      return;
    case MessageKind.StatsRequest:
      return connection.send(encodeBody({ kind: MessageKind.Stats, token: message.token, stats: context.snapshot() }));
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
  connection.name = hello.name ?? '';
  connection.noEcho = hello.noEcho ?? false;
  connection.state = 'open';
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
}

function handlePublish(context: HandlerContext, connection: Connection, publish: PublishFrame): void {
  const refusal = publishRefusal(publish.topic);
  if (refusal) return connection.refuse(refusal.code, refusal.message);
  connection.counters.messagesIn++;
  context.route(publish, connection);
}

function handleSubscribe(context: HandlerContext, connection: Connection, subscribe: Subscribe): void {
  const { subscriptionId, pattern } = subscribe;
  const problem = patternProblem(pattern);
  if (problem) return connection.refuse(ErrorCode.InvalidPattern, problem, subscriptionId);
  const limit = context.limits.maxSubscriptionsPerConnection;
  if (connection.subscriptions.size >= limit) {
    return connection.refuse(
      ErrorCode.TooManySubscriptions,
      `this connection already holds ${limit} subscriptions, the most the broker allows (--max-subscriptions)`,
      subscriptionId,
    );
  }
  if (connection.subscriptions.has(subscriptionId)) {
    return connection.refuse(ErrorCode.InvalidMessage, `subscription id ${subscriptionId} is already in use on this connection`, subscriptionId);
  }
  connection.subscriptions.set(subscriptionId, pattern);
  context.addSubscription(connection, pattern);
}

function handleUnsubscribe(context: HandlerContext, connection: Connection, unsubscribe: Unsubscribe): void {
  const pattern = connection.subscriptions.get(unsubscribe.subscriptionId);
  // Unknown ids are ignored: unsubscribing twice is harmless, as in NATS.
  if (pattern === undefined) return;
  connection.subscriptions.delete(unsubscribe.subscriptionId);
  context.removeSubscription(connection, pattern);
}
