import { ErrorCode, SockbusError } from './errors.js';

export const DEFAULT_SOCKET_PATH = '/tmp/sockbus.sock';
export const SOCKET_ENVIRONMENT_VARIABLE = 'SOCKBUS_SOCKET';

/**
 * The longest path bind() and connect() accept: sun_path is 108 bytes on
 * Linux and 104 on the BSDs and macOS, one of them for the terminating NUL.
 */
export function socketPathLimit(platform: NodeJS.Platform): number {
  return platform === 'linux' ? 107 : 103;
}

/** `--socket` wins, then $SOCKBUS_SOCKET, then the default; broker and clients agree. */
export function resolveSocketPath(flag: string | undefined, environment: NodeJS.ProcessEnv): string {
  return flag || environment[SOCKET_ENVIRONMENT_VARIABLE] || DEFAULT_SOCKET_PATH;
}

/** Refuses a path the kernel would reject with a bare EINVAL, saying why instead. */
export function assertSocketPathFits(path: string, platform: NodeJS.Platform): void {
  const length = Buffer.byteLength(path, 'utf8');
  const limit = socketPathLimit(platform);
  if (length > limit) {
    throw new SockbusError(
      ErrorCode.SocketPathTooLong,
      `socket path is ${length} bytes long, but ${platform} allows at most ${limit} bytes: ${path}`,
    );
  }
}
