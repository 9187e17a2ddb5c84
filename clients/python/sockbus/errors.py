"""Errors: one class, with the stable codes of PROTOCOL.md section 6."""

# Codes only the client libraries raise, never sent on the wire (section 6).
BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
UNTRUSTED_BROKER = "UNTRUSTED_BROKER"
BROKER_UNRESPONSIVE = "BROKER_UNRESPONSIVE"
CONNECTION_CLOSED = "CONNECTION_CLOSED"
CLIENT_CLOSED = "CLIENT_CLOSED"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
NOT_A_REQUEST = "NOT_A_REQUEST"
HANDLER_FAILED = "HANDLER_FAILED"

# Wire codes after which the broker closes the connection (section 6, "closes: yes").
CLOSING_CODES = frozenset([
    "FRAME_TOO_LARGE", "MALFORMED_FRAME", "INVALID_MESSAGE", "UNKNOWN_MESSAGE_KIND", "HANDSHAKE_REQUIRED",
    "UNSUPPORTED_VERSION", "SLOW_CONSUMER", "TOO_MANY_CONNECTIONS", "CREDENTIALS_UNAVAILABLE", "RATE_LIMITED",
    "TIMEOUT", "INTERNAL_ERROR",
])


class SockbusError(Exception):
    """An error with the protocol's stable code, from the broker or found locally.

    about is the error frame's map (section 3.8) when the broker sent one:
    it names the frame the error answers ("kind", "sub", "inUse", "topic", "reply").
    """

    def __init__(self, code, message, about=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.about = about
        # For a refused subscription: the Subscription the broker does not hold.
        self.subscription = None
        # For a reply carrying an error: who answered, as on Reply.sender.
        self.sender = None

    @property
    def closes_connection(self):
        return self.code in CLOSING_CODES

    def __str__(self):
        return "%s: %s" % (self.code, self.message)
