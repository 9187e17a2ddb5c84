import type { ClientIdentity } from '../protocol/index.js';
import type { Connection } from './connection.js';

/** Who is on a connection, as `$SYS.client.connected`, `.disconnected` and the stats' client list say it. */
export function presenceOf(connection: Connection): ClientIdentity {
  const { id, name, credentials } = connection;
  if (!credentials) return { id, name };
  return { id, name, uid: credentials.uid, user: credentials.user, pid: credentials.pid };
}
