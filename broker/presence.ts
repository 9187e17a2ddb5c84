import type { Connection } from './connection.js';

/** Who is on a connection, as `$SYS.client.connected`, `.disconnected` and the stats' client list say it. */
export interface PresenceInfo {
  id: number;
  name: string;
  /** From the kernel's peer credentials, when the broker has them. */
  uid?: number;
  user?: string | null;
  pid?: number | null;
}

export function presenceOf(connection: Connection): PresenceInfo {
  const { id, name, credentials } = connection;
  if (!credentials) return { id, name };
  return { id, name, uid: credentials.uid, user: credentials.user, pid: credentials.pid };
}
