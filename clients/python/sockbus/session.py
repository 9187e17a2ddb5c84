"""One connection from its welcome until it ends: the one write path, the pings that confirm
publishes and find a hung broker (PROTOCOL.md section 8), and reading."""

import select
import socket
import threading
import time

from .errors import BROKER_UNRESPONSIVE, CONNECTION_CLOSED, SockbusError
from .limits import DEFAULT_LIMITS
from .wire import PING, frame, is_uint, pack


def send_counting(sock, data):
    """Writes data; returns (bytes written, the OSError that stopped it or None), so a caller knows which frames left whole."""
    view = memoryview(data)
    sent = 0
    try:
        while sent < len(view):
            sent += sock.send(view[sent:])
    except OSError as error:
        return sent, error
    return sent, None


class Pending:
    """A request, ping or stats request awaiting its answer on one session."""

    def __init__(self, session, what):
        self.session = session
        self.what = what
        self.event = threading.Event()
        self.answer = None
        self.error = None

    def settle(self, answer=None, error=None):
        if self.event.is_set():
            return
        self.answer, self.error = answer, error
        self.event.set()


class Session:
    """The socket, what the welcome said, and what was written and confirmed on it.

    Every write holds the session's lock, so frames never interleave. take_token()
    gives a ping its token from the client's one sequence of ids; the lock order is
    this lock, then the client's state lock.
    """

    def __init__(self, sock, decoder, welcome, path, send_timeout, take_token):
        self.socket = sock
        self.decoder = decoder
        self.welcome = welcome
        self.path = path
        self.lock = threading.Lock()
        self._send_timeout = send_timeout
        self._take_token = take_token
        self.limits = dict(DEFAULT_LIMITS)
        for key in DEFAULT_LIMITS:
            if is_uint(welcome.get(key)):
                self.limits[key] = welcome[key]
        if not is_uint(welcome.get("maxBrokerFrameBytes")):
            self.limits["maxBrokerFrameBytes"] = self.limits["maxFrameBytes"] + 1024
        decoder.max_body_bytes = self.limits["maxBrokerFrameBytes"]
        self.opened_at = time.monotonic()
        self.last_heard = self.opened_at
        # Why it ended or must end (a failed write, a closing error frame, a going-away), or None while it serves.
        self.end_reason = None
        self.going_away = None
        # Publishes written whole, and how many of them a pong has confirmed (section 8).
        self.publishes_sent = 0
        self.publishes_confirmed = 0
        # ping token -> (when it was sent, publishes_sent then)
        self.pings = {}

    @property
    def usable(self):
        return self.end_reason is None

    def end(self, reason):
        """The session is over, for the first reason given."""
        if self.end_reason is None:
            self.end_reason = reason

    def closing(self, error):
        """The broker sent an error after which it closes (section 6): that is why the session ends."""
        self.end_reason = error

    def going_away_said(self, reason):
        """The broker said goodbye (section 3.9); it closes next."""
        self.going_away = reason

    # -- writing ------------------------------------------------------------------

    def write(self, frames):
        """Writes frames ((bytes, is_publish) pairs) in one go; False when the connection broke first.

        What was not written whole is the caller's to queue or fail.
        """
        with self.lock:
            if not self.usable:
                return False
            return self.write_locked(frames)[0]

    def write_locked(self, frames):
        """write() with the lock held by the caller, on a session that serves; returns
        (every byte written, the publishes not written whole, the OSError that ended the session or None).

        Publishes written whole are counted, and a ping follows them unless one is
        in flight, so that its pong confirms them (section 8).
        """
        data = b"".join(item for item, _ in frames)
        sent, error = send_counting(self.socket, data)
        offset, unsent = 0, []
        for item, is_publish in frames:
            offset += len(item)
            if is_publish:
                if offset <= sent:
                    self.publishes_sent += 1
                else:
                    unsent.append(item)
        if error is None and self.publishes_sent > self.publishes_confirmed and not self.pings:
            error = self._ping_locked(None)
        if error is not None:
            self._break(error)
        return sent == len(data), unsent, error

    def send(self, data):
        """Writes one control frame (a pong, a stats request) if the session serves."""
        with self.lock:
            error = send_counting(self.socket, data)[1] if self.usable else None
            if error is not None:
                self._break(error)

    def ping(self, token=None):
        """Sends a ping (a flush's token, else a fresh one) if the session serves."""
        with self.lock:
            error = self._ping_locked(token) if self.usable else None
            if error is not None:
                self._break(error)

    def confirm(self, token):
        """A pong: everything written before its ping has been handled by the broker (section 3.6).
        Publishes written since are confirmed by the next ping, sent now."""
        with self.lock:
            asked = self.pings.pop(token, None)
            if asked is not None:
                self.publishes_confirmed = max(self.publishes_confirmed, asked[1])
                if self.usable and self.publishes_sent > self.publishes_confirmed and not self.pings:
                    error = self._ping_locked(None)
                    if error is not None:
                        self._break(error)

    def take_unconfirmed(self):
        """How many publishes the session leaves unconfirmed as it ends; call once."""
        unconfirmed = self.publishes_sent - self.publishes_confirmed
        self.publishes_confirmed = self.publishes_sent
        return unconfirmed

    def _ping_locked(self, token):
        if token is None:
            token = self._take_token()
        self.pings[token] = (time.monotonic(), self.publishes_sent)
        return send_counting(self.socket, frame(pack([PING, token])))[1]

    def _break(self, error):
        """A write failed or timed out: the session is over. Shutting the socket wakes the reader, which reconnects."""
        if self.end_reason is None:
            if isinstance(error, socket.timeout):
                self.end_reason = SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not read what this client sent for %d ms; it may be hung" % (self.path, self._send_timeout * 1000))
            else:
                self.end_reason = SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s broke while sending: %s" % (self.path, error))
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- reading and the heartbeat ------------------------------------------------

    def read(self, period):
        """Waits up to period for bytes: returns (when it woke, the bytes read or None, why the session ended or None)."""
        try:
            readable = select.select([self.socket], [], [], period)[0]
        except (OSError, ValueError) as error:
            return None, None, SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s ended: %s" % (self.path, error))
        now = time.monotonic()
        if not readable:
            return now, None, None
        try:
            chunk = self.socket.recv(65536)
        except socket.timeout:
            return now, None, None
        except OSError as error:
            return now, None, self.end_reason or SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s ended: %s" % (self.path, error))
        if chunk == b"":
            if self.going_away is not None:
                return now, None, SockbusError(CONNECTION_CLOSED, "the broker on %s went away: %s" % (self.path, self.going_away))
            return now, None, self.end_reason or SockbusError(CONNECTION_CLOSED, "the broker on %s closed the connection" % self.path)
        self.last_heard = now
        return now, chunk, None

    def heartbeat(self, now, ping_interval, ping_timeout):
        """Pings a silent broker; returns BROKER_UNRESPONSIVE once a ping went unanswered for ping_timeout, talking or not."""
        asked = list(self.pings.values())
        if asked:
            asked_at = min(sent_at for sent_at, _ in asked)
            if now - asked_at >= ping_timeout:
                return SockbusError(BROKER_UNRESPONSIVE, "the broker on %s left a ping unanswered for %d ms; it may be hung" % (self.path, (now - asked_at) * 1000))
        elif now - self.last_heard >= ping_interval:
            self.ping()
        return None
