"""Client: what the application calls. The reader thread (reader.py) owns the connection's lifecycle."""

import random
import socket
import time

from .backoff import MAX_RECONNECT_DELAY, reconnect_delay
from .counters import Dropped
from .errors import BROKER_UNAVAILABLE, BROKER_UNRESPONSIVE, CLIENT_CLOSED, REQUEST_TIMEOUT, SockbusError
from .handshake import socket_path
from .limits import DEFAULT_LIMITS
from .names import check_pattern, check_queue_name
from .offline import DEFAULT_OFFLINE_QUEUE_BYTES, DEFAULT_OFFLINE_QUEUE_MESSAGES
from .reader import Reader
from .session import Pending
from .state import ClientState
from .subscriptions import Subscription
from .terminal import report, run_callback
from .trust import BrokerTrust
from .wire import GOING_AWAY, PING, STATS_REQUEST, UNSUBSCRIBE, encode_publish, frame, pack


class Client:
    """One connection to sockbusd that reconnects, resubscribes and sends what waited, by itself.

    Callbacks (subscriptions, on_error, on_dropped, on_reconnect, on_disconnect)
    run on the client's reader thread, one at a time, in order; on_dropped also
    on the publishing thread when the offline queue overflows.
    """

    def __init__(self, path=None, name="", reconnect=True, max_reconnect_delay=None, on_error=None, on_reconnect=None,
                 broker_uid=None, option_name="broker_uid", on_dropped=None, on_disconnect=None,
                 offline_queue_messages=DEFAULT_OFFLINE_QUEUE_MESSAGES, offline_queue_bytes=DEFAULT_OFFLINE_QUEUE_BYTES,
                 handshake_timeout=5.0, ping_interval=5.0, ping_timeout=5.0, reconnect_policy=None, rand=random.random,
                 no_echo=False):
        self.path = socket_path(path)
        # Who may run the broker besides root and this user (section 1): anyone else is refused before hello.
        trust = BrokerTrust(broker_uid, option_name)
        self._trust = trust
        self.name = name
        # When true, the broker routes none of this client's publishes back to it (section 3.7).
        self.no_echo = no_echo
        self.reconnect = reconnect
        if reconnect_policy is None:
            cap = MAX_RECONNECT_DELAY if max_reconnect_delay is None else max_reconnect_delay
            reconnect_policy = lambda attempt: min(cap, reconnect_delay(attempt, rand))
        # attempt (failures in a row, from 0) -> seconds to wait, or None to give up.
        self.reconnect_policy = reconnect_policy
        self.on_error = on_error or report
        self.on_dropped = on_dropped or report
        self.on_reconnect = on_reconnect or (lambda: None)
        self.on_disconnect = on_disconnect or (lambda reason: None)
        self.handshake_timeout = handshake_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._state = ClientState(offline_queue_messages, offline_queue_bytes)
        self.counters = self._state.counters
        self._reader = Reader(self, self._state, trust, rand)
        self._reader.attach(self._reader.dial())
        self._reader.start()

    # -- what the application reads ---------------------------------------------

    @property
    def state(self):
        """"connecting", "connected", "reconnecting" or "closed"."""
        return self._state.state

    @property
    def closed_reason(self):
        """Why the client closed for good when reconnecting gave up, else None."""
        return self._state.closed_reason

    @property
    def welcome(self):
        return self._state.welcome

    @property
    def broker_uid(self):
        """The uid trusted to run the broker besides root and this user, or None."""
        return self._trust.uid

    @property
    def dropped(self):
        """Messages lost for sure: discarded by this client (offline queue overflow) or by the broker (dropped notices)."""
        return self.counters.dropped_by_client + self.counters.dropped_by_broker

    @property
    def limits(self):
        """The limits the last welcome announced (section 3.2), with the defaults for keys it left out."""
        session = self._state.session
        return dict(session.limits) if session else dict(DEFAULT_LIMITS)

    # -- what the application calls ---------------------------------------------

    def publish(self, topic, data, headers=None, retain=False):
        """Sends a message, or keeps it in the offline queue while disconnected.

        Raises at once, with the broker's code, what the broker would refuse:
        INVALID_TOPIC, RESERVED_TOPIC, HEADERS_TOO_LARGE, INVALID_DATA, FRAME_TOO_LARGE.
        """
        self._check_open()
        body = encode_publish(topic, data, headers, {"retain": True} if retain else None, self.limits)
        with self._state.lock:
            self.counters.published += 1
        self._send_publish(frame(body))

    def subscribe(self, pattern, callback, queue=None):
        """Subscribes (section 3.4); the subscription receives plain deliveries once the broker says it holds it."""
        self._check_open()
        check_pattern(pattern, self.limits)
        if queue is not None:
            check_queue_name(queue)
        state = self._state
        with state.lock:
            subscription = Subscription(self, state.take_id(), pattern, callback, queue)
            state.subscriptions.add(subscription)
            session = state.usable_session()
        if session:
            session.write([(subscription.subscribe_frame(), False)])
        return subscription

    def unsubscribe(self, subscription):
        state = self._state
        with state.lock:
            if not state.subscriptions.remove(subscription):
                return
            session = state.usable_session()
        if session:
            session.write([(frame(pack([UNSUBSCRIBE, subscription.id])), False)])

    def request(self, topic, data, timeout=5.0, headers=None):
        """Returns the first reply, a Reply: (data, headers), and .sender.

        Raises SockbusError: a refusal with the broker's code (NO_RESPONDERS,
        RESERVED_TOPIC, ACCESS_DENIED, ...), the responder's code (REQUEST_FAILED
        when it gave none), REQUEST_TIMEOUT, CONNECTION_CLOSED or CLIENT_CLOSED.
        While disconnected, the request is sent once connected if that happens in time.
        """
        self._check_open()
        self._check_not_reader("a request")
        state = self._state
        deadline = time.monotonic() + timeout
        request_id = None
        while True:
            with state.lock:
                if request_id is None:
                    request_id = state.take_id()
                    body = encode_publish(topic, data, headers, {"request": request_id}, self.limits)
                session = state.wait_usable(deadline)
                if session is None:
                    raise state.closed_error() if state.state == "closed" else self._request_timeout(topic, timeout)
                pending = state.requests[request_id] = Pending(session, "the request on %s" % topic)
            if session.write([(frame(body), False)]):
                with state.lock:
                    self.counters.published += 1
                break
            with state.lock:
                state.requests.pop(request_id, None)
        if not pending.event.wait(max(0.0, deadline - time.monotonic())):
            with state.lock:
                state.requests.pop(request_id, None)
            pending.settle(error=self._request_timeout(topic, timeout))
        if pending.error:
            raise pending.error
        return pending.answer

    def flush(self, timeout=5.0):
        """Returns once the broker has processed everything sent before, the offline queue included (a ping and its pong, section 3.6)."""
        self._ask(PING, self._state.flushes, "a ping", timeout)

    def stats(self, timeout=5.0):
        """The broker's counters (section 3.11)."""
        return self._ask(STATS_REQUEST, self._state.stats, "a stats request", timeout)

    def close(self, timeout=2.0):
        """Confirms what was sent (a last ping), says goodbye, and disconnects for good."""
        state = self._state
        with state.lock:
            if state.state == "closed":
                return
            session = state.usable_session()
        if session and not self._reader.is_current():
            try:
                self.flush(timeout)
            except SockbusError:
                pass  # what stays unconfirmed is reported when the session ends
        left, waiting = state.stop()
        self._reader.wake()
        closed = SockbusError(CLIENT_CLOSED, "the client was closed")
        for pending in waiting:
            pending.settle(error=SockbusError(CLIENT_CLOSED, "the client was closed before the answer to %s arrived" % pending.what))
        if left:
            run_callback(self.on_dropped, Dropped("client", left, "the client was closed before it could send them to a broker"))
        session = state.session
        if session:
            session.write([(frame(pack([GOING_AWAY, "the client was closed"])), False)])
            try:
                session.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if not self._reader.is_current():
            self._reader.join(timeout)
        if session:
            session.end(closed)
            session.socket.close()

    # -- sending ----------------------------------------------------------------

    def _send_publish(self, publish_frame):
        """Writes a publish, or queues it when there is no usable connection; a write that fails queues it too."""
        state = self._state
        while True:
            with state.lock:
                session = state.usable_session()
                if session is None:
                    dropped = state.queue_offline(publish_frame)
                    break
            if session.write([(publish_frame, True)]):
                return
            # The connection broke under the write: the publish did not reach it whole. Queue it, or send it on a newer one.
        if dropped:
            run_callback(self.on_dropped, Dropped("client", dropped, "the offline queue was full while disconnected (%d messages, %d bytes at most)" % (state.offline.max_messages, state.offline.max_bytes)))

    def _ask(self, kind, table, what, timeout):
        """Sends a ping or stats request and waits for its answer."""
        self._check_open()
        self._check_not_reader(what)
        state = self._state
        deadline = time.monotonic() + timeout
        with state.lock:
            session = state.wait_usable(deadline)
            if session is None:
                if state.state == "closed":
                    raise state.closed_error()
                raise SockbusError(BROKER_UNAVAILABLE, "no broker answered on %s within %d ms (%d publishes wait in the offline queue)" % (self.path, timeout * 1000, len(state.offline)))
            token = state.take_id()
            pending = table[token] = Pending(session, what)
        if kind == PING:
            session.ping(token)
        else:
            session.send(frame(pack([kind, token])))
        if not pending.event.wait(max(0.0, deadline - time.monotonic())):
            with state.lock:
                table.pop(token, None)
            raise SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not answer %s within %d ms; it may be hung" % (self.path, what, timeout * 1000))
        if pending.error:
            raise pending.error
        return pending.answer

    def _request_timeout(self, topic, timeout):
        return SockbusError(REQUEST_TIMEOUT, "no reply to the request on %s within %d ms" % (topic, timeout * 1000))

    def _check_open(self):
        if self._state.state == "closed":
            raise self._state.closed_error()

    def _check_not_reader(self, what):
        # The reader thread runs the callbacks and is the one that would read the answer.
        if self._reader.is_current():
            raise RuntimeError("%s waits for the reader thread, which runs callbacks: send it from another thread" % what)


def connect(path=None, name="", **options):
    return Client(path, name, **options)
