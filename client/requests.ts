import { ErrorCode, SockbusError, type Headers, type ReplyDelivery, type ResponderCode, type Sender } from '../protocol/index.js';

/** The answer to a request. */
export interface Reply<T = unknown> {
  data: T;
  headers?: Headers;
  /**
   * The responding process's uid and pid, as the kernel told the broker,
   * like `message.sender`: no responder can set or forge it. Undefined when
   * the broker does not say. Not enumerable, as on a message: it is about
   * the answer, not part of it.
   */
  readonly sender?: Sender;
}

interface Pending {
  topic: string;
  resolve(reply: Reply<any>): void;
  reject(error: SockbusError): void;
  timer: NodeJS.Timeout;
}

/**
 * Requests waiting for their reply, by id. Ids only grow, across
 * reconnects too, so a late reply can never be taken for another request's.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `onLate`: a reply came for a request already settled, by a faster responder or a timeout. */
  constructor(private readonly onLate: () => void) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a request that fails with TIMEOUT unless settled within `timeoutMs`. */
  create<T>(topic: string, timeoutMs: number): { id: number; reply: Promise<Reply<T>> } {
    const id = this.nextId++;
    const reply = new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(id, new SockbusError(ErrorCode.RequestTimeout, `no reply to the request on ${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.set(id, { topic, resolve, reject, timer });
    });
    return { id, reply };
  }

  /** Settles the request a reply answers; a reply to nothing pending is counted as late. */
  settle(message: ReplyDelivery): void {
    const request = this.take(message.requestId);
    if (!request) return this.onLate();
    if (message.error) request.reject(new SockbusError(message.error.code as ErrorCode | ResponderCode, message.error.message));
    else request.resolve(replyOf(message));
  }

  fail(id: number, error: SockbusError): void {
    this.take(id)?.reject(error);
  }

  /** Fails every pending request with the error `reasonFor` gives for its topic. */
  failAll(reasonFor: (topic: string) => SockbusError): void {
    for (const id of [...this.pending.keys()]) this.fail(id, reasonFor(this.pending.get(id)!.topic));
  }

  isPending(id: number): boolean {
    return this.pending.has(id);
  }

  private take(id: number): Pending | undefined {
    const request = this.pending.get(id);
    if (!request) return undefined;
    this.pending.delete(id);
    clearTimeout(request.timer);
    return request;
  }
}

function replyOf({ data, headers, sender }: ReplyDelivery): Reply {
  const reply: Reply = headers ? { data, headers } : { data };
  if (sender) Object.defineProperty(reply, 'sender', { value: sender, enumerable: false });
  return reply;
}
