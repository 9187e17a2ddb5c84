import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { assertSocketPathFits, ErrorCode, SockbusError } from '../protocol/index.js';
import { CredentialReader, type PeerCredentials } from './credentials.js';
import { AcceptFailures } from './accept-failures.js';
import { listen } from './listen.js';
import type { Logger } from './log.js';
import { describeUser, unsafePathReason } from './safe-path.js';
import { StartLock } from './start-lock.js';

/** Who may open the socket file: its permission bits, and the group that owns it when not the broker's. */
export interface SocketAccess {
  mode: number;
  group: number | null;
}

/**
 * Owns the socket file of one broker for its whole life:
 * - at start, takes the path, or explains why it cannot:
 *   a live broker already answers there: refused, nothing touched;
 *   a socket nothing answers on (a crashed broker's leftover): replaced;
 *   anything else (file, directory, symlink): refused, nothing touched.
 *   Unlike brokers that unlink unconditionally, it never steals a live socket;
 * - while running, re-creates the file if someone removes or replaces it
 *   (a /tmp cleaner), with the same checks;
 * - at the end, removes the file only if it is still the one it created.
 */
export class SocketOwner {
  private verifying = false;
  private watch: NodeJS.Timeout | null = null;
  /** Connections the kernel could not hand over (out of descriptors), for stats. */
  readonly acceptFailures: AcceptFailures;
  /** Why the path is not ours now, logged once per episode rather than every check, and shown in stats. */
  private currentProblem: string | null = null;

  private constructor(
    readonly path: string,
    private readonly access: SocketAccess,
    private readonly log: Logger,
    private readonly onConnection: (socket: net.Socket) => void,
    private readonly credentials: CredentialReader,
    private readonly lock: StartLock | null,
    private server: net.Server,
    private identity: Stats,
  ) {
    this.acceptFailures = new AcceptFailures(log);
    this.serve(server);
  }

  static async claim(
    path: string,
    access: SocketAccess,
    log: Logger,
    onConnection: (socket: net.Socket) => void,
    credentials = CredentialReader.load(),
  ): Promise<SocketOwner> {
    assertSocketPathFits(path, process.platform);
    // Checked before creating anything, so nothing is made inside a directory someone else controls.
    assertSafeDirectories(path);
    createParentDirectories(path);
    // Held for the broker's whole life, so two brokers starting together on one
    // path cannot both decide the file is stale and remove each other's socket.
    const lock = await StartLock.acquire(path, log);
    try {
      await clearStaleSocket(path, log, credentials);
      const server = await listenWithAccess(path, access);
      return new SocketOwner(path, access, log, onConnection, credentials, lock, server, lstatSync(path));
    } catch (error) {
      lock?.release();
      throw error;
    }
  }

  /** Checks every `intervalMs` that the socket file is still ours, re-creating it when it is not. */
  watchFile(intervalMs: number): void {
    this.watch = setInterval(() => void this.verify(), intervalMs).unref();
  }

  /** Why the socket path does not lead to this broker right now (e.g. another user's socket holds it), or null. */
  get problem(): string | null {
    return this.currentProblem;
  }

  /** Re-creates the socket file if it was removed or replaced. */
  private async verify(): Promise<void> {
    if (this.verifying || isSameFile(this.path, this.identity)) return;
    this.verifying = true;
    try {
      assertSafeDirectories(this.path);
      await clearStaleSocket(this.path, this.log, this.credentials);
      // The path is free now, so the old server's close (which unlinks its
      // path) can no longer remove anyone's file.
      this.server.close();
      this.server = await listenWithAccess(this.path, this.access);
      this.serve(this.server);
      this.identity = lstatSync(this.path);
      this.currentProblem = null;
      this.log.warn(`socket file ${this.path} had been removed or replaced; re-created it`);
    } catch (error) {
      const reason = (error as Error).message;
      if (reason !== this.currentProblem) {
        this.currentProblem = reason;
        this.log.error(`socket file ${this.path} was removed or replaced and cannot be re-created: ${reason}`);
      }
    } finally {
      this.verifying = false;
    }
  }

  /** Stops accepting connections, and removes the socket file while it is still ours. */
  close(): void {
    if (this.watch) clearInterval(this.watch);
    // libuv unlinks a pipe server's path when it closes it, whatever file
    // is there by then. So close only while the file is ours; otherwise
    // refuse new connections and let process exit release the descriptor.
    if (isSameFile(this.path, this.identity)) this.server.close();
    else this.server.maxConnections = 0;
    this.lock?.release();
  }

  private serve(server: net.Server): void {
    server.on('connection', this.onConnection);
    server.on('error', (error) => this.acceptFailures.note(error));
  }
}

/** Creates missing parents with mode 0755 exactly, whatever the umask. */
function createParentDirectories(path: string): void {
  const parent = dirname(path);
  const firstCreated = mkdirSync(parent, { recursive: true, mode: 0o755 });
  if (!firstCreated) return;
  for (let directory = parent; directory.length >= firstCreated.length; directory = dirname(directory)) {
    chmodSync(directory, 0o755);
  }
}

/** Refuses a socket path another user could tamper with (see unsafePathReason), or someone else could replace the socket and read what clients send. */
function assertSafeDirectories(path: string): void {
  const reason = unsafePathReason(path, 'the socket');
  if (reason) throw new SockbusError(ErrorCode.UnsafeSocketDirectory, `refusing to serve on ${path}: ${reason}`);
}

function isSameFile(path: string, identity: Stats): boolean {
  try {
    const current = lstatSync(path);
    return current.dev === identity.dev && current.ino === identity.ino;
  } catch {
    return false;
  }
}

async function clearStaleSocket(path: string, log: Logger, credentials: CredentialReader): Promise<void> {
  let existing: Stats;
  try {
    existing = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!existing.isSocket()) {
    const what = existing.isSymbolicLink() ? 'a symbolic link' : existing.isDirectory() ? 'a directory' : 'a regular file';
    throw new SockbusError(
      ErrorCode.SocketPathOccupied,
      `${path} exists and is ${what}, not a socket; refusing to replace it (remove it yourself if it is not needed)`,
    );
  }
  const answer = await probe(path, credentials);
  if (answer === 'stale') {
    unlinkSync(path);
    log.info(`removed stale socket ${path} left by a broker that is no longer running`);
  } else if (answer !== 'gone') {
    throw liveHolder(path, answer.uid ?? existing.uid, answer.pid);
  }
}

/**
 * A live socket at the path: another broker of ours, or, when another user
 * listens there (bound before we started, or after a /tmp cleaner removed
 * our file), possibly an impostor reading what clients send. Said plainly,
 * with the holder's uid and pid from the kernel (SO_PEERCRED), so the
 * operator can act.
 */
function liveHolder(path: string, uid: number, pid: number | null): SockbusError {
  if (uid === process.geteuid?.()) return anotherBroker(path);
  const holder = describeUser(uid, pid);
  return new SockbusError(
    ErrorCode.SocketPathOccupied,
    `${path} is held by a live socket of ${holder}: another user may be impersonating the broker; ` +
      'refusing to replace it (serve from a directory only root and the broker\'s user can write, so no one else can take the path)',
  );
}

function anotherBroker(path: string): SockbusError {
  return new SockbusError(ErrorCode.BrokerAlreadyRunning, `another broker is listening on ${path}`);
}

/** Whether something accepts connections on the socket, and if so who (the listener's credentials, where known). */
function probe(path: string, credentials: CredentialReader): Promise<{ uid: number | null; pid: number | null } | 'stale' | 'gone'> {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      let holder: PeerCredentials | null = null;
      try {
        holder = credentials.of(socket);
      } catch {
        // Unknown then; the socket file's owner stands in for the holder.
      }
      socket.destroy();
      resolvePromise({ uid: holder?.uid ?? null, pid: holder?.pid ?? null });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolvePromise('stale');
      else if (error.code === 'ENOENT') resolvePromise('gone');
      else {
        reject(new SockbusError(ErrorCode.SocketPathOccupied, `cannot tell whether a broker owns ${path}: ${error.message}`, { cause: error }));
      }
    });
  });
}

/**
 * Binds with a umask that yields exactly `mode`, so the socket never exists,
 * not even for a moment, with looser permissions than asked (the window
 * between bind and chmod was Redis's CVE-2023-45145). Node binds
 * synchronously inside listen(), so the umask is restored right after.
 * With a group, the socket starts owner-only and is opened to the group
 * only once it belongs to it.
 */
async function listenWithAccess(path: string, { mode, group }: SocketAccess): Promise<net.Server> {
  const server = await listenWithMode(path, group === null ? mode : mode & 0o700);
  if (group !== null) {
    chownSync(path, -1, group);
    chmodSync(path, mode);
  }
  return server;
}

async function listenWithMode(path: string, mode: number): Promise<net.Server> {
  const server = net.createServer();
  const previousMask = process.umask(0o777 & ~mode);
  let listening: Promise<void>;
  try {
    listening = listen(server, path);
  } finally {
    process.umask(previousMask);
  }
  await listening;
  return server;
}
