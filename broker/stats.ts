/** Broker-wide counters; each connection keeps its own as well. */
export class BrokerCounters {
  connectionsTotal = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  dropped = 0;
  errors = 0;
}

export class ConnectionCounters {
  messagesIn = 0;
  messagesOut = 0;
  dropped = 0;
}
