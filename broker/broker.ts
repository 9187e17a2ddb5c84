import type net from 'node:net';
import { BROKER_FRAME_MARGIN_BYTES, encodeBody, MessageKind, VERSION, type ClientMessage, type PublishFrame } from '../protocol/index.js';
import { Connection, type ConnectionHost } from './connection.js';
import type { CredentialReader } from './credentials.js';
import { PublishedMessage } from './delivery.js';
import { handleClientMessage, type HandlerContext } from './handlers.js';
import type { Logger } from './log.js';
import type { BrokerLimits, BrokerOptions } from './options.js';
import { Gatekeeper } from './gatekeeper.js';
import { Presence } from './presence.js';
import { MemoryBudget } from './memory-budget.js';
import { RequestRouting } from './request-routing.js';
import { RetainedValues } from './retained-values.js';
import { StatsService } from './stats-service.js';
import type { StatsSources } from './stats-snapshot.js';
import { Router } from './router.js';
import { InheritedSocket } from './socket-activation.js';
import { SocketOwner } from './socket-file.js';
import { BrokerCounters } from './stats.js';
import { Subscriptions } from './subscriptions.js';

/**
 * Accepts connections and wires the services together: who may connect
 * (Gatekeeper), who receives what (Router, Subscriptions), requests
 * (RequestRouting), retained values (RetainedValues), presence events
 * (Presence) and stats (StatsService). It keeps the registry of
 * connections, the deadline sweep and the shutdown; what a message does is
 * decided in handlers.ts and the services, not here.
 */
export class Broker implements ConnectionHost {
  readonly counters = new BrokerCounters();
  readonly serverName = `sockbusd ${VERSION}`;
  private readonly connections = new Map<number, Connection>();
  private readonly router = new Router((connection, topic) => this.subscriptions.requestReceiver(connection, topic));
  private readonly memory: MemoryBudget;
  private readonly gatekeeper: Gatekeeper;
  private readonly retained: RetainedValues;
  private readonly subscriptions: Subscriptions;
  private readonly requests: RequestRouting;
  private readonly presence: Presence;
  private readonly statsService: StatsService;
  /** What the message handlers may do: the services' operations, nothing else of the broker. */
  private readonly handlers: HandlerContext;
  private readonly startedAt = Date.now();
  private nextConnectionId = 1;
  private readonly sweeper: NodeJS.Timeout;
  private shuttingDown = false;
  /** More sections for stats, from parts that live beside the broker (the bridge). */
  private readonly statsSections = new Map<string, () => unknown>();
  private socket: SocketOwner | InheritedSocket | null = null;

  constructor(
    private readonly options: BrokerOptions,
    readonly log: Logger,
    credentials: CredentialReader,
  ) {
    const { limits } = options;
    this.memory = new MemoryBudget(limits, log);
    // A policy file that cannot be used stops the broker here, before it listens.
    this.gatekeeper = new Gatekeeper(options, credentials, log, this.memory);
    this.retained = new RetainedValues(limits, options.statePath, this.memory, this.counters, log);
    this.subscriptions = new Subscriptions(this.router, this.retained);
    this.requests = new RequestRouting(this.router, this.connections, limits, this.counters, log);
    this.presence = new Presence(this.router, this.gatekeeper.ownSender);
    this.statsService = new StatsService(this.statsSources());
    this.handlers = {
      serverName: this.serverName,
      limits,
      stampsSenders: this.gatekeeper.ownSender !== undefined,
      opened: (connection) => this.presence.arrived(connection),
      noteDenied: (connection) => this.noteDenied(connection),
      publish: (publish, from) => this.publish(publish, from),
      request: (publish, from) => this.requests.request(publish, from),
      refuseRequest: (requester, requestId, refusal) => this.requests.refuse(requester, requestId, refusal),
      respond: (respond, from) => this.requests.respond(respond, from),
      subscribe: (connection, subscribe) => this.subscriptions.take(connection, subscribe),
      subscriptionsOf: (connection) => this.subscriptions.of(connection),
      unsubscribe: (connection, subscriptionId) => this.subscriptions.end(connection, subscriptionId),
      stats: (asker, token) => this.statsService.request(asker, token),
    };
    // One timer for every connection's deadlines, rather than timers per connection.
    const { handshakeTimeoutMs, frameTimeoutMs, keepaliveMs } = limits;
    const sweepEveryMs = Math.min(1000, Math.max(20, Math.min(handshakeTimeoutMs, frameTimeoutMs, keepaliveMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs).unref();
  }

  /**
   * Restores saved state, then serves the socket systemd passed (`activatedFd`)
   * or takes the socket path itself; rejects with why it cannot. Resolves
   * with the path it serves.
   */
  async listen(activatedFd: number | null = null): Promise<string> {
    await this.retained.restore();
    const onConnection = (client: net.Socket) => this.accept(client);
    if (activatedFd !== null) {
      const inherited = await InheritedSocket.serve(activatedFd, this.log, onConnection);
      this.socket = inherited;
      return inherited.path;
    }
    const { socketPath, mode, socketCheckMs } = this.options;
    const owner = await SocketOwner.claim(socketPath, { mode, group: this.gatekeeper.socketGroup() }, this.log, onConnection);
    owner.watchFile(socketCheckMs);
    this.socket = owner;
    return socketPath;
  }

  get limits(): BrokerLimits {
    return this.options.limits;
  }

  handle(connection: Connection, message: ClientMessage): void {
    handleClientMessage(this.handlers, connection, message);
  }

  forget(connection: Connection): void {
    this.subscriptions.endAll(connection);
    this.requests.requesterGone(connection);
    this.statsService.forget(connection);
    if (!this.connections.delete(connection.id)) return;
    this.gatekeeper.released(connection);
    this.log.debug(`${connection.description} disconnected: ${connection.closeReason}`);
    if (!this.shuttingDown) this.presence.left(connection);
  }

  /** Adds a section to every stats answer, computed when asked. */
  addStatsSection(name: string, section: () => unknown): void {
    this.statsSections.set(name, section);
  }

  /**
   * Reads the policy file again (SIGHUP). A file that does not parse is
   * reported and the policy in force stays. Connections stay up; their
   * subscriptions the new policy no longer allows are ended with an error.
   */
  reloadPolicy(): void {
    if (!this.gatekeeper.reload(this.connections.values())) return;
    const revoked = this.subscriptions.revokeDisallowed(this.connections.values(), (connection) => this.noteDenied(connection));
    this.log.info(`reloaded the access policy from ${this.gatekeeper.policySource}; ${revoked} subscription(s) it no longer allows were ended`);
  }

  /**
   * Stops accepting (removing the socket file if it is still ours), tells
   * every client the broker is going away, and lets their buffers flush,
   * bounded by the close timeout.
   */
  async shutdown(reason: string): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.sweeper);
    this.statsService.stop();
    this.socket?.close();
    const goingAway = encodeBody({ kind: MessageKind.GoingAway, reason });
    const closed = [...this.connections.values()].map((connection) => {
      connection.send(goingAway);
      connection.close();
      return connection.closed;
    });
    await Promise.all(closed);
    await this.retained.flush();
  }

  private publish(publish: PublishFrame, from: Connection): void {
    this.counters.messagesIn++;
    if (publish.retain) this.retained.keep(publish, from);
    this.router.route(new PublishedMessage(publish, from.stamp), from);
  }

  private noteDenied(connection: Connection): void {
    this.counters.denied++;
    connection.counters.denied++;
  }

  private accept(client: net.Socket): void {
    const { identity, refusal } = this.gatekeeper.identify(client);
    const connection = new Connection(this.nextConnectionId++, client, this, identity);
    this.counters.connectionsTotal++;
    if (refusal) {
      this.counters.connectionsRefused++;
      this.gatekeeper.noteRefusal(identity, refusal);
      connection.refuseAtTheDoor(refusal);
      return;
    }
    this.connections.set(connection.id, connection);
    this.gatekeeper.admitted(connection);
    this.log.debug(`connection ${connection.id} accepted from ${connection.access.who}`);
  }

  /** What stats answers are made of. */
  private statsSources(): StatsSources {
    return {
      serverName: this.serverName,
      maxAnswerBytes: this.limits.maxFrameBytes + BROKER_FRAME_MARGIN_BYTES,
      startedAt: this.startedAt,
      counters: this.counters,
      connections: this.connections,
      memory: this.memory,
      socketPath: () => this.socket?.path ?? this.options.socketPath,
      socketProblem: () => this.socket?.problem ?? null,
      acceptFailures: () => this.socket?.acceptFailures.count ?? 0,
      subscriptions: () => this.subscriptions.size,
      subscriptionsOf: (connection) => this.subscriptions.of(connection).size,
      pendingRequests: () => this.requests.size,
      retained: () => ({ count: this.retained.count, bytes: this.retained.totalBytes }),
      policySource: () => this.gatekeeper.policySource,
      seesEveryone: (asker) => this.gatekeeper.seesEveryone(asker),
      sections: () => Object.fromEntries([...this.statsSections].map(([name, section]) => [name, section()])),
    };
  }

  private sweep(): void {
    const now = Date.now();
    this.requests.expire(now);
    for (const connection of this.connections.values()) {
      try {
        connection.checkDeadlines(now);
        connection.releaseIdleBuffers();
      } catch (error) {
        // A bug of ours on one connection ends that connection, never the broker.
        this.log.error(`${connection.description}: internal error in its deadlines: ${(error as Error).stack ?? String(error)}`);
        connection.destroy();
      }
    }
  }
}
