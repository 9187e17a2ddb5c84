import type { Msg, MsgHdrs, NatsConnection } from 'nats';
import { connect, type Client, type Message } from '../../client/index.js';
import { ErrorCode, packer, publishRefusal, SockbusError, unpacker, type BridgeCounters, type BridgeStats, type Headers } from '../../protocol/index.js';
import type { Logger } from '../log.js';
import type { BridgeOptions } from '../options.js';

/** What the bridge uses of the `nats` package. */
type NatsClient = Pick<typeof import('nats'), 'connect' | 'headers'>;

/** Starts the bridge once the broker listens on socketPath. */
export type BridgeStarter = (socketPath: string) => Promise<NatsBridge>;

/**
 * Loads the `nats` package and returns what starts the bridge with it. The
 * broker calls it before listening, so a broker that cannot bridge says so
 * and does not start. `nats` is an optional peer dependency (package.json):
 * only brokers run with --bridge need it, so `npm install sockbus` for the
 * library does not bring it, and this is the one place that imports it.
 */
export async function prepareBridge(options: BridgeOptions, log: Logger): Promise<BridgeStarter> {
  const nats = await loadNats();
  return (socketPath) => NatsBridge.start(options, socketPath, log, nats);
}

async function loadNats(): Promise<NatsClient> {
  try {
    return await import('nats');
  } catch (error) {
    // Only nats itself missing; a broken install of it (a dependency of its own missing) is reported as it is.
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /\bpackage 'nats'/.test((error as Error).message);
    if (!missing) throw error;
    throw new SockbusError(
      ErrorCode.BridgeUnavailable,
      '--bridge needs the NATS client, the optional package `nats`, which is not installed; install it beside sockbus with `npm install nats` (`npm install -g nats` for a global sockbus)',
      { cause: error },
    );
  }
}

/**
 * Links this broker to a NATS server. It is an ordinary client of both:
 * locally it subscribes to the export patterns with noEcho, so what it
 * imports and publishes locally is never sent back out; on NATS it also
 * connects with noEcho, so its exports do not come back in. Two machines
 * bridging the same subjects through one NATS therefore cannot loop.
 * Payloads cross as the msgpack encoding of the data; headers as NATS headers.
 */
export class NatsBridge {
  readonly counters: BridgeCounters = { exported: 0, imported: 0, notForwarded: 0, notImported: 0, importsDenied: 0, reconnects: 0 };
  private nats: NatsConnection | null = null;
  private connected = false;
  private stopped = false;

  private constructor(
    private readonly options: BridgeOptions,
    private readonly local: Client,
    private readonly log: Logger,
    private readonly natsClient: NatsClient,
  ) {}

  /** Connects to the local broker at once, and to NATS in the background, retrying until it is there. */
  static async start(options: BridgeOptions, socketPath: string, log: Logger, natsClient: NatsClient): Promise<NatsBridge> {
    const local = await connect({ path: socketPath, name: 'nats-bridge', noEcho: true });
    const bridge = new NatsBridge(options, local, log, natsClient);
    local.on('error', (error) => bridge.refused(error));
    for (const pattern of options.exports) local.subscribe(pattern, (message) => bridge.export(message));
    void bridge.connectToNats();
    return bridge;
  }

  snapshot(): BridgeStats {
    const { url, exports, imports, prefix } = this.options;
    return { url, connected: this.connected, exports, imports, prefix, ...this.counters };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.nats?.close();
    await this.local.close();
  }

  private async connectToNats(): Promise<void> {
    try {
      this.nats = await this.natsClient.connect({
        servers: this.options.url,
        name: 'sockbus-bridge',
        noEcho: true,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
    } catch (error) {
      this.log.error(`bridge: cannot connect to ${this.options.url}: ${(error as Error).message}`);
      return;
    }
    if (this.stopped) {
      await this.nats.close();
      return;
    }
    this.connected = true;
    this.log.info(`bridge: connected to ${this.options.url}`);
    for (const subject of this.options.imports) this.nats.subscribe(subject, { callback: (error, message) => this.import(error, message) });
    void this.followStatus(this.nats);
  }

  private async followStatus(nats: NatsConnection): Promise<void> {
    for await (const status of nats.status()) {
      if (status.type === 'disconnect') {
        this.connected = false;
        this.log.warn(`bridge: lost ${this.options.url}; local traffic goes on, exports are counted as not forwarded until it is back`);
      } else if (status.type === 'reconnect') {
        this.connected = true;
        this.counters.reconnects++;
        this.log.info(`bridge: reconnected to ${this.options.url}`);
      }
    }
  }

  private export(message: Message): void {
    if (!this.connected || !this.nats) {
      this.counters.notForwarded++;
      return;
    }
    const subject = this.options.prefix ? `${this.options.prefix}.${message.topic}` : message.topic;
    try {
      this.nats.publish(subject, packer.pack(message.data), message.headers ? { headers: this.toNatsHeaders(message.headers) } : undefined);
      this.counters.exported++;
    } catch (error) {
      this.counters.notForwarded++;
      this.log.debug(`bridge: could not export ${subject}: ${(error as Error).message}`);
    }
  }

  private import(error: Error | null, message: Msg): void {
    if (error) {
      this.log.error(`bridge: import subscription failed: ${error.message}`);
      return;
    }
    const refusal = publishRefusal(message.subject);
    if (refusal) {
      this.counters.notImported++;
      this.log.debug(`bridge: not importing ${message.subject}: ${refusal.message}`);
      return;
    }
    const headers = message.headers ? fromNatsHeaders(message.headers) : undefined;
    this.local.publish(message.subject, decodePayload(message.data), headers ? { headers } : {});
    this.counters.imported++;
  }

  /**
   * The broker refused something the bridge sent: under --acl the bridge is
   * a principal with its own rights. A refused publish is an import the
   * policy does not allow; a refused subscription is an export it does not.
   */
  private refused(error: SockbusError): void {
    if (error.code !== ErrorCode.AccessDenied) {
      this.log.warn(`bridge: the broker refused: ${error.code}: ${error.message}`);
    } else if (/^publish /.test(error.message)) {
      // Counted as imported when handed to the broker; the broker's refusal moves it here.
      this.counters.imported--;
      this.counters.importsDenied++;
      this.log.debug(`bridge: import refused: ${error.message}`);
    } else {
      this.log.warn(`bridge: export refused: ${error.message}`);
    }
  }

  private toNatsHeaders(headers: Headers): MsgHdrs {
    const natsHeaders = this.natsClient.headers();
    for (const [key, value] of Object.entries(headers)) natsHeaders.set(key, value);
    return natsHeaders;
  }
}

/** The data a NATS message carries: msgpack from another bridge, or raw bytes from any other NATS client. */
function decodePayload(payload: Uint8Array): unknown {
  if (payload.length === 0) return null;
  try {
    return unpacker.unpack(payload);
  } catch {
    return Buffer.from(payload);
  }
}

function fromNatsHeaders(natsHeaders: MsgHdrs): Headers | undefined {
  const headers: Headers = {};
  for (const key of natsHeaders.keys()) headers[key] = natsHeaders.get(key);
  return Object.keys(headers).length > 0 ? headers : undefined;
}
