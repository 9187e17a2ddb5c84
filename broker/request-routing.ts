import { encodeBody, ErrorCode, mebibytes, MessageKind, type PublishFrame, type RespondFrame } from '../protocol/index.js';
import type { Connection } from './connection.js';
import { partsLength, PublishedMessage, replyParts } from './delivery.js';
import type { Logger } from './log.js';
import type { BrokerLimits } from './options.js';
import { isReplyAddress, PendingRequests } from './pending-requests.js';
import type { Router } from './router.js';
import type { BrokerCounters } from './stats.js';

/** A refusal of the broker's own, sent to a requester as the reply for its id. */
export interface RequestRefusal {
  code: ErrorCode;
  message: string;
}

/**
 * Request/reply (PROTOCOL.md §3.12): routes a request with a reply address
 * of its own, takes the first answer from a connection it reached, and
 * builds the reply. A requester always gets a reply for its id, the
 * broker's own when it refuses the request.
 */
export class RequestRouting {
  private readonly pending: PendingRequests;

  constructor(
    private readonly router: Router,
    private readonly connections: ReadonlyMap<number, Connection>,
    private readonly limits: BrokerLimits,
    private readonly counters: BrokerCounters,
    private readonly log: Logger,
  ) {
    this.pending = new PendingRequests(limits.maxPendingRequests, limits.requestLifetimeMs);
  }

  /** Requests awaiting an answer. */
  get size(): number {
    return this.pending.size;
  }

  request(publish: PublishFrame & { requestId: number }, from: Connection): void {
    this.counters.messagesIn++;
    this.counters.requests++;
    const opened = this.pending.open(from.id, publish.requestId, from.account, Date.now());
    if (opened === 'over-share') {
      from.account.noteRefused('refused', from.description);
      const message = `${from.access.who} is at its memory share of ${mebibytes(from.account.limitBytes)} (--max-memory-per-uid): its clients must read what waits for them first`;
      return this.refuse(from, publish.requestId, { code: ErrorCode.OverMemoryShare, message });
    }
    if (opened === 'too-many') {
      const message = `this connection already has ${this.limits.maxPendingRequests} requests awaiting an answer, the most the broker allows (--max-requests)`;
      return this.refuse(from, publish.requestId, { code: ErrorCode.TooManyRequests, message });
    }
    const reached: Connection[] = [];
    this.router.route(new PublishedMessage(publish, from.stamp, opened.address), from, reached);
    for (const responder of reached) opened.request.responders.add(responder.id);
    if (reached.length > 0) return;
    this.pending.cancel(opened.address);
    this.counters.noResponders++;
    this.refuse(from, publish.requestId, { code: ErrorCode.NoResponders, message: `no responders: nothing subscribes to ${publish.topic}` });
  }

  /** Answers a request with an error of the broker's own: a reply for its id, with no sender. */
  refuse(requester: Connection, requestId: number, refusal: RequestRefusal): void {
    this.counters.errors++;
    requester.send(encodeBody({ kind: MessageKind.Reply, requestId, data: null, error: { code: refusal.code, message: refusal.message } }));
  }

  /** Passes an answer to its requester, if the request is pending and this connection was asked. */
  respond(respond: RespondFrame, from: Connection): void {
    const about = { kind: MessageKind.Respond, reply: respond.replyTo };
    if (!isReplyAddress(respond.replyTo)) {
      const message = `respond: ${JSON.stringify(respond.replyTo)} is not a reply address this broker gives out (16 base64url characters)`;
      return from.refuseFrame({ code: ErrorCode.InvalidReplyAddress, message }, about);
    }
    // Refused, it is no answer: the request still awaits one.
    if (respond.refusal) return from.refuseFrame(respond.refusal, about);
    const request = this.pending.answer(respond.replyTo, from.id);
    if (request === 'not-asked') {
      // Someone answering a request that was never delivered to them: a forgery, or a guess.
      this.counters.repliesRefused++;
      this.log.debug(`${from.description}: refused an answer to a request it was not asked`);
      return;
    }
    const requester = request === 'unknown' ? undefined : this.connections.get(request.requesterId);
    if (request === 'unknown' || !requester) {
      // Already answered, expired, from before a restart, or the requester is gone: like NATS, the reply has nowhere to go.
      this.counters.repliesUndeliverable++;
      return;
    }
    this.counters.replies++;
    const parts = replyParts(respond, request.requestId, from.stamp);
    requester.deliver(parts, partsLength(parts));
  }

  /** Forgets the requests of a connection that has gone. */
  requesterGone(connection: Connection): void {
    this.pending.requesterGone(connection.id);
  }

  /** Forgets requests past their lifetime. */
  expire(now: number): void {
    this.pending.expire(now);
  }
}
