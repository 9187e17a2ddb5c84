import { ErrorCode, SockbusError, type DeliveryInfo, type Headers, type ReplyError, type Sender } from '../protocol/index.js';

/** Sends answers to requests; the client does it. */
export interface Responder {
  respond(replyTo: string, data: unknown, headers?: Headers, error?: ReplyError): void;
}

export interface RespondOptions {
  headers?: Headers;
}

export interface RespondErrorOptions extends RespondOptions {
  /** The error's code as the requester sees it. @default 'REQUEST_FAILED' */
  code?: string;
}

/** The request and who answers it, kept out of the message's enumerable fields. */
interface RequestOrigin {
  replyTo: string;
  responder: Responder;
}

/**
 * A message delivered to a subscription. When it is a request
 * (`isRequest`), answer it with `respond` or `respondError`.
 */
export class Message<T = unknown> {
  declare headers?: Headers;
  /** Set on a retained value replayed to a new subscription, not on live messages. */
  declare retained?: true;
  readonly #origin: RequestOrigin | undefined;
  readonly #sender: Sender | undefined;

  constructor(
    readonly topic: string,
    readonly data: T,
    headers?: Headers,
    info?: DeliveryInfo,
    responder?: Responder,
    sender?: Sender,
  ) {
    if (headers) this.headers = headers;
    if (info?.retained) this.retained = true;
    this.#sender = sender;
    this.#origin = info?.reply !== undefined && responder ? { replyTo: info.reply, responder } : undefined;
  }

  /**
   * The publishing process's uid and pid, as the kernel told the broker:
   * no client can set or forge it. Undefined when the broker cannot read
   * peer credentials.
   */
  get sender(): Sender | undefined {
    return this.#sender;
  }

  /** Whether the sender awaits an answer. */
  get isRequest(): boolean {
    return this.#origin !== undefined;
  }

  /** Answers the request; the requester's promise resolves with `data`. The first answer wins. */
  respond(data: unknown, options: RespondOptions = {}): void {
    const { replyTo, responder } = this.origin();
    responder.respond(replyTo, data, options.headers);
  }

  /** Answers the request with an error; the requester's promise rejects with `message`. */
  respondError(message: string, options: RespondErrorOptions = {}): void {
    const { replyTo, responder } = this.origin();
    responder.respond(replyTo, null, options.headers, { code: options.code ?? ErrorCode.RequestFailed, message });
  }

  private origin(): RequestOrigin {
    if (!this.#origin) throw new SockbusError(ErrorCode.NotARequest, `the message on ${this.topic} is not a request: nobody awaits an answer`);
    return this.#origin;
  }
}
