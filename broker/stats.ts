/** Broker-wide counters; each connection keeps its own as well. */
export class BrokerCounters {
  connectionsTotal = 0;
  /** Connections refused at the door: limits, fair share, or credentials that could not be read. */
  connectionsRefused = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  dropped = 0;
  errors = 0;
  requests = 0;
  /** Requests answered at once with NO_RESPONDERS. */
  noResponders = 0;
  replies = 0;
  /** Replies whose requester had gone, or that were addressed before a broker restart. */
  repliesUndeliverable = 0;
  /** Answers from a connection the request was never delivered to: forged or guessed. */
  repliesRefused = 0;
  /** Retains refused because the retained store was at a bound. */
  retainedRefused = 0;
  /** Publishes and subscribes refused by the access policy. */
  denied = 0;
}

export class ConnectionCounters {
  messagesIn = 0;
  messagesOut = 0;
  dropped = 0;
  denied = 0;
}
