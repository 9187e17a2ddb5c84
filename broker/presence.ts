import type { ClientIdentity, Sender } from '../protocol/index.js';
import type { Connection } from './connection.js';
import { BrokerEventMessage } from './delivery.js';
import type { Router } from './router.js';

/** Who is on a connection, as `$SYS.client.connected`, `.disconnected` and the stats' client list say it. */
export function presenceOf(connection: Connection): ClientIdentity {
  const { id, name, credentials } = connection;
  if (!credentials) return { id, name };
  return { id, name, uid: credentials.uid, user: credentials.user, pid: credentials.pid };
}

/**
 * `$SYS.client.connected` and `.disconnected` (PROTOCOL.md §3.15): each
 * connection that completed its hello is announced once when it arrives
 * and once when it leaves, unless the broker itself is shutting down.
 */
export class Presence {
  constructor(
    private readonly router: Router,
    private readonly ownSender: Sender | undefined,
  ) {}

  arrived(connection: Connection): void {
    connection.markAnnounced();
    this.announce('$SYS.client.connected', presenceOf(connection));
  }

  left(connection: Connection): void {
    if (connection.announced) this.announce('$SYS.client.disconnected', { ...presenceOf(connection), reason: connection.closeReason });
  }

  private announce(topic: string, data: unknown): void {
    this.router.route(new BrokerEventMessage(topic, data, this.ownSender), null);
  }
}
