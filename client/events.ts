import type { SockbusError, Welcome } from '../protocol/index.js';

/**
 * `connecting` until the first handshake, `connected` while a session is up,
 * `reconnecting` between sessions, `closed` for good.
 */
export type ClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConnectionInfo {
  connectionId: number;
  server: string;
  maxFrameBytes: number;
}

export interface DroppedNotice {
  /**
   * `broker`: its buffer for this client was full; `client`: a local bound
   * was reached, or a frame from the broker could not be decoded;
   * `connection`: publishes in flight when the connection to the
   * broker died, which may or may not have been delivered.
   */
  source: 'broker' | 'client' | 'connection';
  count: number;
  reason: string;
}

/** The client's events, typed for eventemitter3. */
export interface ClientEvents {
  /** First successful handshake. */
  connect: [info: ConnectionInfo];
  /** A session ended; the client will try again unless it is closed. */
  disconnect: [reason: SockbusError];
  /** A later handshake succeeded and subscriptions are restored. */
  reconnect: [info: ConnectionInfo];
  /** Every change of state, in order. */
  status: [state: ClientState];
  /** Messages were lost, and how many. */
  dropped: [notice: DroppedNotice];
  /** An error the broker reported, or one from a message handler; also a reconnect refused because the broker is untrusted. */
  error: [error: SockbusError];
  /** Something works less well than it should; said once, e.g. the broker checked without the native addon. */
  warning: [warning: SockbusError];
}

export function connectionInfo(welcome: Welcome): ConnectionInfo {
  return { connectionId: welcome.connectionId, server: welcome.server, maxFrameBytes: welcome.maxFrameBytes };
}
