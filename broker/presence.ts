import type { Connection } from './connection.js';

/** What `$SYS.client.connected` and `.disconnected` say about a connection. */
export interface PresenceInfo {
  id: number;
  name: string;
}

export function presenceOf(connection: Connection): PresenceInfo {
  return { id: connection.id, name: connection.name };
}
