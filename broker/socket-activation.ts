import { fstatSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { AcceptFailures } from './accept-failures.js';
import type { Logger } from './log.js';
import { listen } from './listen.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START in sd_listen_fds(3)). */
const FIRST_PASSED_FD = 3;
/** The name the shipped .socket unit gives the broker's socket (FileDescriptorName=). */
export const ACTIVATION_FD_NAME = 'sockbus';

/**
 * The listening socket systemd (or systemd-socket-activate) passed to this
 * process, per sd_listen_fds(3): LISTEN_PID must be our pid, LISTEN_FDS
 * counts descriptors from 3, LISTEN_FDNAMES names them. With several, the
 * one named "sockbus" is taken, else the first. Null when not activated.
 * The variables are removed so that child processes do not take them too.
 */
export function takeActivationSocket(environment: NodeJS.ProcessEnv, pid: number): number | null {
  const { LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES } = environment;
  delete environment['LISTEN_PID'];
  delete environment['LISTEN_FDS'];
  delete environment['LISTEN_FDNAMES'];
  if (LISTEN_PID === undefined || Number(LISTEN_PID) !== pid) return null;
  const count = Number(LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return null;
  const names = LISTEN_FDNAMES?.split(':') ?? [];
  const named = names.indexOf(ACTIVATION_FD_NAME);
  return FIRST_PASSED_FD + (named >= 0 && named < count ? named : 0);
}

/**
 * Serves a listening socket systemd created. The socket file is systemd's:
 * the broker never chmods, watches or removes it, and closing the server
 * (libuv unlinks only paths it bound itself) leaves it in place, so
 * connections made while the broker is down queue in the kernel until the
 * next start.
 */
export class InheritedSocket {
  private constructor(
    private readonly server: net.Server,
    readonly fd: number,
    readonly path: string,
    /** Connections the kernel could not hand over (out of descriptors), for stats. */
    readonly acceptFailures: AcceptFailures,
  ) {}

  static async serve(fd: number, log: Logger, onConnection: (socket: net.Socket) => void): Promise<InheritedSocket> {
    const server = net.createServer(onConnection);
    const acceptFailures = new AcceptFailures(log);
    server.on('error', (error) => acceptFailures.note(error));
    await listen(server, { fd });
    return new InheritedSocket(server, fd, boundPath(fd) ?? `fd ${fd}`, acceptFailures);
  }

  /** Always null: systemd owns the socket file, and the broker never watches it. */
  get problem(): string | null {
    return null;
  }

  close(): void {
    this.server.close();
  }
}

/**
 * The path a passed Unix socket is bound to, for logs and stats. libuv does
 * not know it (it did not bind the socket), so on Linux it is looked up by
 * the socket's inode in /proc/net/unix; null elsewhere or if not found.
 */
function boundPath(fd: number): string | null {
  try {
    const inode = String(fstatSync(fd).ino);
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] === inode && fields[7]) return fields[7];
    }
  } catch {
    // Not Linux, or /proc is not mounted: the caller falls back to the descriptor number.
  }
  return null;
}
