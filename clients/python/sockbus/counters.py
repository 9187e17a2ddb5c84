"""What the client counts, and the notice it gives when messages are lost."""


class Dropped:
    """Messages lost, and why: source is "client" (this client discarded them), "broker"
    (the broker did, section 3.10) or "connection" (sent, but the connection ended before
    the broker confirmed them: they may or may not have been delivered)."""

    def __init__(self, source, count, reason):
        self.source = source
        self.count = count
        self.reason = reason

    def __repr__(self):
        return "Dropped(%r, %d, %r)" % (self.source, self.count, self.reason)

    def __str__(self):
        return "%d message(s) lost (%s): %s" % (self.count, self.source, self.reason)


class Counters:
    """What the client did and lost, for the application to read (bus.counters)."""

    def __init__(self):
        self.published = 0
        self.received = 0
        # Messages the broker discarded for this client: it did not read fast enough (dropped notices).
        self.dropped_by_broker = 0
        # Publishes this client discarded: the offline queue was full, or the client closed before it could send them.
        self.dropped_by_client = 0
        # Publishes written to a connection that ended before the broker confirmed them.
        self.unconfirmed = 0
        self.reconnects = 0
        # Replies that came after their request was settled (section 3.12).
        self.late_replies = 0
        self.handler_failures = 0

    def as_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "Counters(%s)" % ", ".join("%s=%d" % item for item in self.__dict__.items())
