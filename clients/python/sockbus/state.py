"""What the client holds across sessions, behind one lock, and each change of its one state."""

import threading
import time

from .backoff import SOCKET_POLL_INTERVAL
from .counters import Counters
from .errors import CLIENT_CLOSED, SockbusError
from .offline import OfflineQueue
from .subscriptions import Subscriptions


class ClientState:
    """"connecting", "connected", "reconnecting" or "closed" (one state, never a bag of flags), and what
    the lock guards with it: the current session, the subscriptions, what awaits an answer, the offline
    queue, the counters. The state changes only through attach(), detach() and stop().

    Order of locks: a session's write lock, then this one. Writes never happen under this lock alone.
    """

    def __init__(self, offline_queue_messages, offline_queue_bytes):
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.state = "connecting"
        # Why the client closed for good when reconnecting gave up, else None.
        self.closed_reason = None
        self.welcome = None
        self.session = None
        self.counters = Counters()
        self.offline = OfflineQueue(offline_queue_messages, offline_queue_bytes)
        self.subscriptions = Subscriptions()
        self.requests = {}  # request id -> Pending
        self.flushes = {}  # ping token -> Pending
        self.stats = {}  # stats token -> Pending
        self._next_id = 1

    # -- with the lock held --------------------------------------------------------

    def usable_session(self):
        """The current session if it can be written to."""
        session = self.session
        return session if self.state == "connected" and session is not None and session.usable else None

    def wait_usable(self, deadline):
        """Waits for a usable session until the deadline; None when there is none or the client closed."""
        while True:
            session = self.usable_session()
            if session is not None or self.state == "closed":
                return session
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.changed.wait(min(remaining, SOCKET_POLL_INTERVAL))

    def take_id(self):
        """The next id of the one sequence that subscriptions, requests and pings share."""
        identifier = self._next_id
        self._next_id = identifier + 1 if identifier < 0xFFFFFFFF else 1
        return identifier

    def take_pending(self, which):
        """Removes and returns what awaits an answer and passes which()."""
        taken = []
        for table in (self.requests, self.flushes, self.stats):
            for key, pending in list(table.items()):
                if which(pending):
                    taken.append(table.pop(key))
        return taken

    def queue_offline(self, publish_frame):
        """Keeps a publish for the next session; returns how many the full queue dropped for it."""
        dropped = self.offline.push(publish_frame)
        self.counters.dropped_by_client += dropped
        return dropped

    # -- each takes the lock ---------------------------------------------------------

    def new_id(self):
        with self.lock:
            return self.take_id()

    def attach(self, session):
        """Makes a new session the current one; call with its write lock held, so that nothing is written to it first.

        Returns (its subscribe frames, the queued publishes, whether this is a reconnect), or None when the client closed.
        """
        with self.lock:
            if self.state == "closed":
                return None
            frames = self.subscriptions.subscribe_again()
            queued = self.offline.drain()
            self.session = session
            self.welcome = session.welcome
            reconnected = self.state == "reconnecting"
            if reconnected:
                self.counters.reconnects += 1
            self.state = "connected"
            self.changed.notify_all()
        return frames, queued, reconnected

    def requeue(self, unsent):
        """Publishes a replay did not write whole go first in line for the next session; returns how many were dropped."""
        with self.lock:
            unsent += self.offline.drain()
            dropped = sum(self.offline.push(item) for item in unsent)
            self.counters.dropped_by_client += dropped
        return dropped

    def detach(self, session):
        """A session ended: returns (what waited on it, how many publishes it leaves unconfirmed)."""
        with self.lock:
            if self.session is session and self.state != "closed":
                self.state = "reconnecting"
                self.changed.notify_all()
            waiting = self.take_pending(lambda pending: pending.session is session)
            unconfirmed = session.take_unconfirmed()
            self.counters.unconfirmed += unconfirmed
        return waiting, unconfirmed

    def stop(self, reason=None):
        """Closed for good (reason: why reconnecting gave up; None for close()): returns
        (how many queued publishes were dropped, everything that awaited an answer)."""
        with self.lock:
            self.state = "closed"
            self.closed_reason = reason
            self.changed.notify_all()
            left = len(self.offline)
            self.offline.drain()
            self.counters.dropped_by_client += left
            waiting = self.take_pending(lambda pending: True)
        return left, waiting

    def closed_error(self):
        if self.closed_reason is not None:
            return SockbusError(self.closed_reason.code, "the client stopped: %s" % self.closed_reason.message)
        return SockbusError(CLIENT_CLOSED, "the client is closed")
