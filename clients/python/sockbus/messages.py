"""What a subscription's callback and a request get: a delivered Message, a Reply."""

from .errors import NOT_A_REQUEST, SockbusError
from .wire import sender_of


class Message:
    """A delivered message. When it is a request (is_request), answer it with respond().

    answer(reply_to, data, headers, error) sends the answer on the connection the
    message came on (section 3.12): there is no later one to queue it for.
    """

    def __init__(self, answer, topic, data, headers, info, sender):
        self.topic = topic
        self.data = data
        self.headers = headers or {}
        info = info or {}
        self.retained = bool(info.get("retained"))
        # The one subscription the broker addressed it to (queue group share, retained replay, request), or None.
        self.subscription_id = info.get("sub")
        # {"uid", "pid"} as the kernel told the broker; None when the broker cannot tell (welcome senders: false).
        self.sender = sender_of(sender)
        self._reply_to = info.get("reply")
        self._answer = answer

    @property
    def is_request(self):
        return self._reply_to is not None

    def respond(self, data, headers=None):
        self._answer(self._checked_reply_to(), data, headers, None)

    def respond_error(self, message, code=None, headers=None):
        """Fails the request; without a code the broker gives the requester REQUEST_FAILED (section 3.12)."""
        error = {"message": message} if code is None else {"code": code, "message": message}
        self._answer(self._checked_reply_to(), None, headers, error)

    def _checked_reply_to(self):
        if self._reply_to is None:
            raise SockbusError(NOT_A_REQUEST, "the message on %s is not a request: nobody awaits an answer" % self.topic)
        return self._reply_to


class Reply(tuple):
    """The answer to a request: unpacks as (data, headers), and says who answered.

    sender is {"uid", "pid"} from the responder's kernel credentials, as the
    broker stamped them (section 3.12), or None when the broker does not say.
    """

    def __new__(cls, data, headers, sender):
        reply = super().__new__(cls, (data, headers))
        reply.sender = sender_of(sender)
        return reply

    @property
    def data(self):
        return self[0]

    @property
    def headers(self):
        return self[1]
