import type net from 'node:net';
import {
  deliveryParts,
  encodeBody,
  ErrorCode,
  ProtocolError,
  MessageKind,
  TopicTrie,
  VERSION,
  type ClientMessage,
  type PublishFrame,
} from '../protocol/index.js';
import { Connection, type ConnectionHost } from './connection.js';
import { handleClientMessage, type HandlerContext } from './handlers.js';
import type { Logger } from './log.js';
import type { BrokerLimits, BrokerOptions } from './options.js';
import { SocketOwner } from './socket-file.js';
import { BrokerCounters } from './stats.js';


/** Accepts connections, keeps the routing table and the counters, and shuts down cleanly. */
export class Broker implements ConnectionHost, HandlerContext {
  readonly counters = new BrokerCounters();
  readonly serverName = `sockbusd ${VERSION}`;
  /** The routing table: which connections subscribed to patterns matching a topic. */
  private readonly index = new TopicTrie<Connection>();
  private readonly connections = new Map<number, Connection>();
  private readonly startedAt = Date.now();
  private nextConnectionId = 1;
  private readonly sweeper: NodeJS.Timeout;

  private socket: SocketOwner | null = null;

  constructor(
    private readonly options: BrokerOptions,
    readonly log: Logger,
  ) {
    // One timer for every connection's deadlines, rather than timers per connection.
    const { handshakeTimeoutMs, frameTimeoutMs, keepaliveMs } = options.limits;
    const sweepEveryMs = Math.min(1000, Math.max(20, Math.min(handshakeTimeoutMs, frameTimeoutMs, keepaliveMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs).unref();
  }

  /** Takes the socket path and starts serving; rejects with why the path cannot be had. */
  async listen(): Promise<void> {
    const { socketPath, mode, socketCheckMs } = this.options;
    this.socket = await SocketOwner.claim(socketPath, mode, this.log, (client) => this.accept(client));
    this.socket.watchFile(socketCheckMs);
  }

  get limits(): BrokerLimits {
    return this.options.limits;
  }

  handle(connection: Connection, message: ClientMessage): void {
    handleClientMessage(this, connection, message);
  }

  forget(connection: Connection): void {
    for (const pattern of connection.subscriptions.values()) this.index.remove(pattern, connection);
    connection.subscriptions.clear();
    this.connections.delete(connection.id);
    this.log.debug(`${connection.description} disconnected`);
  }

  route(publish: PublishFrame, from: Connection): void {
    this.counters.messagesIn++;
    const subscribers = this.index.matching(publish.topic);
    if (subscribers.length === 0) return;
    const parts = deliveryParts(publish);
    const bodyBytes = parts[0].length + parts[1].length;
    for (const subscriber of subscribers) {
      if (subscriber === from && from.noEcho) continue;
      subscriber.deliver(parts, bodyBytes);
    }
  }

  addSubscription(connection: Connection, pattern: string): void {
    this.index.add(pattern, connection);
  }

  removeSubscription(connection: Connection, pattern: string): void {
    this.index.remove(pattern, connection);
  }

  snapshot(): Record<string, unknown> {
    const counters = this.counters;
    return {
      server: this.serverName,
      pid: process.pid,
      socket: this.options.socketPath,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      connections: this.connections.size,
      connectionsTotal: counters.connectionsTotal,
      subscriptions: this.index.size,
      messagesIn: counters.messagesIn,
      bytesIn: counters.bytesIn,
      messagesOut: counters.messagesOut,
      bytesOut: counters.bytesOut,
      dropped: counters.dropped,
      errors: counters.errors,
      clients: [...this.connections.values()].map((connection) => ({
        id: connection.id,
        name: connection.name,
        subscriptions: connection.subscriptions.size,
        messagesIn: connection.counters.messagesIn,
        messagesOut: connection.counters.messagesOut,
        dropped: connection.counters.dropped,
        pendingBytes: connection.pendingBytes,
        connectedSeconds: Math.round((Date.now() - connection.connectedAt) / 1000),
      })),
    };
  }

  /**
   * Stops accepting (removing the socket file if it is still ours), tells
   * every client the broker is going away, and lets their buffers flush,
   * bounded by the close timeout.
   */
  async shutdown(reason: string): Promise<void> {
    clearInterval(this.sweeper);
    this.socket?.close();
    const goingAway = encodeBody({ kind: MessageKind.GoingAway, reason });
    const closed = [...this.connections.values()].map((connection) => {
      connection.send(goingAway);
      connection.close();
      return connection.closed;
    });
    await Promise.all(closed);
  }

  private accept(client: net.Socket): void {
    const connection = new Connection(this.nextConnectionId++, client, this);
    this.counters.connectionsTotal++;
    const limit = this.limits.maxConnections;
    if (this.connections.size >= limit) {
      connection.fail(new ProtocolError(ErrorCode.TooManyConnections, `the broker already serves ${limit} connections, the most it allows (--max-connections)`));
      return;
    }
    this.connections.set(connection.id, connection);
    this.log.debug(`connection ${connection.id} accepted`);
  }

  private sweep(): void {
    const now = Date.now();
    for (const connection of this.connections.values()) connection.checkDeadlines(now);
  }
}
