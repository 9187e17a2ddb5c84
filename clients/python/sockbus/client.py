"""The Client: one connection to sockbusd that reconnects by itself, and connect()."""

import os
import pwd
import random
import select
import socket
import struct
import sys
import threading
import time

from .backoff import MAX_RECONNECT_DELAY, SOCKET_POLL_INTERVAL, NEW_SOCKET_JITTER, STABLE_SESSION_SECONDS, reconnect_delay
from .counters import Counters, Dropped
from .errors import (BROKER_UNAVAILABLE, BROKER_UNRESPONSIVE, CLIENT_CLOSED, CLOSING_CODES, CONNECTION_CLOSED, HANDLER_FAILED,
                     REQUEST_TIMEOUT, UNTRUSTED_BROKER, SockbusError)
from .limits import DEFAULT_LIMITS, HANDSHAKE_MAX_FRAME_BYTES
from .messages import Message, Reply, Subscription
from .names import check_pattern, check_queue_name, pattern_matches
from .offline import DEFAULT_OFFLINE_QUEUE_BYTES, DEFAULT_OFFLINE_QUEUE_MESSAGES, OfflineQueue
from .terminal import escape_controls
from .wire import (DROPPED, ERROR, GOING_AWAY, HELLO, MESSAGE, PING, PONG, PROTOCOL_VERSION, REPLY, STATS, STATS_REQUEST, SUBSCRIBED,
                   UNSUBSCRIBE, WELCOME, FrameDecoder, decode_broker_message, encode_publish, encode_respond, frame, is_uint,
                   pack, sender_of)

DEFAULT_PATH = "/tmp/sockbus.sock"
BROKER_UID_VARIABLE = "SOCKBUS_BROKER_UID"


def socket_path(path=None):
    """The broker's socket: the argument, else $SOCKBUS_SOCKET, else /tmp/sockbus.sock (section 1)."""
    return path or os.environ.get("SOCKBUS_SOCKET") or DEFAULT_PATH



def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _describe_user(uid):
    name = _user_name(uid)
    return "uid %d" % uid if name is None else "%s (uid %d)" % (name, uid)


def _resolve_broker_uid(broker_uid, option_name):
    """The uid trusted to run the broker besides root and ourselves: broker_uid, else $SOCKBUS_BROKER_UID; (uid, label) or (None, None)."""
    given, label = broker_uid, option_name
    if given is None:
        given, label = os.environ.get(BROKER_UID_VARIABLE) or None, "$" + BROKER_UID_VARIABLE
    if given is None:
        return None, None
    if isinstance(given, int) or str(given).isdigit():
        return int(given), label
    try:
        return pwd.getpwnam(given).pw_uid, label
    except KeyError:
        raise SockbusError(UNTRUSTED_BROKER, '%s "%s" names no user on this system' % (label, given))



class _Pending:
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


class _Session:
    """One connection from its welcome until it ends: the socket, what the welcome said, and what awaits an answer on it."""

    def __init__(self, sock, decoder, welcome):
        self.socket = sock
        self.decoder = decoder
        self.welcome = welcome
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
        self.broker_uid, self._broker_uid_label = _resolve_broker_uid(broker_uid, option_name)
        self._option_name = option_name
        self._warned_weak_check = False
        self.name = name
        # When true, the broker routes none of this client's publishes back to it (section 3.7).
        self.no_echo = no_echo
        self.reconnect = reconnect
        if reconnect_policy is None:
            cap = MAX_RECONNECT_DELAY if max_reconnect_delay is None else max_reconnect_delay
            reconnect_policy = lambda attempt: min(cap, reconnect_delay(attempt, rand))
        # attempt (failures in a row, from 0) -> seconds to wait, or None to give up.
        self.reconnect_policy = reconnect_policy
        self._random = rand
        self.on_error = on_error or _print_error
        self.on_dropped = on_dropped or _print_dropped
        self.on_reconnect = on_reconnect or (lambda: None)
        self.on_disconnect = on_disconnect or (lambda reason: None)
        self.handshake_timeout = handshake_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.counters = Counters()
        # "connecting", "connected", "reconnecting" or "closed": one state, never a bag of flags.
        self.state = "connecting"
        # Why the client closed for good when reconnecting gave up, else None.
        self.closed_reason = None
        self.welcome = None
        self._session = None
        self._offline = OfflineQueue(offline_queue_messages, offline_queue_bytes)
        # Order of locks: _write_lock, then _state_lock. Writes never happen under _state_lock alone.
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._state_changed = threading.Condition(self._state_lock)
        self._wake = threading.Event()
        self._subscriptions = {}
        self._requests = {}  # request id -> _Pending
        self._flushes = {}  # ping token -> _Pending
        self._stats = {}  # stats token -> _Pending
        self._next_id = 1
        self._attach(self._open_session())
        self._reader = threading.Thread(target=self._run, name="sockbus-reader", daemon=True)
        self._reader.start()

    # -- the public API ----------------------------------------------------

    @property
    def dropped(self):
        """Messages lost for sure: discarded by this client (offline queue overflow) or by the broker (dropped notices)."""
        return self.counters.dropped_by_client + self.counters.dropped_by_broker

    @property
    def limits(self):
        """The limits the last welcome announced (section 3.2), with the defaults for keys it left out."""
        session = self._session
        return dict(session.limits) if session else dict(DEFAULT_LIMITS)

    def publish(self, topic, data, headers=None, retain=False):
        """Sends a message, or keeps it in the offline queue while disconnected.

        Raises at once, with the broker's code, what the broker would refuse:
        INVALID_TOPIC, RESERVED_TOPIC, HEADERS_TOO_LARGE, INVALID_DATA, FRAME_TOO_LARGE.
        """
        self._check_open()
        body = self._publish_body(topic, data, headers, {"retain": True} if retain else None)
        with self._state_lock:
            self.counters.published += 1
        self._send_publish(frame(body))

    def subscribe(self, pattern, callback, queue=None):
        """Subscribes (section 3.4); the subscription receives plain deliveries once the broker says it holds it."""
        self._check_open()
        check_pattern(pattern, self.limits)
        if queue is not None:
            check_queue_name(queue)
        with self._state_lock:
            subscription = Subscription(self, self._take_id(), pattern, callback, queue)
            self._subscriptions[subscription.id] = subscription
            session = self._usable_session()
        if session:
            self._write(session, [(subscription.subscribe_frame(), False)])
        return subscription

    def unsubscribe(self, subscription):
        with self._state_lock:
            if self._subscriptions.pop(subscription.id, None) is None:
                return
            subscription.state = "ended"
            session = self._usable_session()
        if session:
            self._write(session, [(frame(pack([UNSUBSCRIBE, subscription.id])), False)])

    def request(self, topic, data, timeout=5.0, headers=None):
        """Returns the first reply, a Reply: (data, headers), and .sender.

        Raises SockbusError: a refusal with the broker's code (NO_RESPONDERS,
        RESERVED_TOPIC, ACCESS_DENIED, ...), the responder's code (REQUEST_FAILED
        when it gave none), REQUEST_TIMEOUT, CONNECTION_CLOSED or CLIENT_CLOSED.
        While disconnected, the request is sent once connected if that happens in time.
        """
        self._check_open()
        self._check_not_reader("a request")
        deadline = time.monotonic() + timeout
        request_id = None
        while True:
            with self._state_lock:
                if request_id is None:
                    request_id = self._take_id()
                    body = self._publish_body(topic, data, headers, {"request": request_id})
                session = self._wait_usable(deadline)
                if session is None:
                    raise self._closed_error() if self.state == "closed" else self._request_timeout(topic, timeout)
                pending = self._requests[request_id] = _Pending(session, "the request on %s" % topic)
            if self._write(session, [(frame(body), False)]):
                with self._state_lock:
                    self.counters.published += 1
                break
            with self._state_lock:
                self._requests.pop(request_id, None)
        if not pending.event.wait(max(0.0, deadline - time.monotonic())):
            with self._state_lock:
                self._requests.pop(request_id, None)
            pending.settle(error=self._request_timeout(topic, timeout))
        if pending.error:
            raise pending.error
        return pending.answer

    def flush(self, timeout=5.0):
        """Returns once the broker has processed everything sent before, the offline queue included (a ping and its pong, section 3.6)."""
        self._ask(PING, self._flushes, "a ping", timeout)

    def stats(self, timeout=5.0):
        """The broker's counters (section 3.11)."""
        return self._ask(STATS_REQUEST, self._stats, "a stats request", timeout)

    def close(self, timeout=2.0):
        """Confirms what was sent (a last ping), says goodbye, and disconnects for good."""
        with self._state_lock:
            if self.state == "closed":
                return
            session = self._usable_session()
        if session and threading.current_thread() is not self._reader:
            try:
                self.flush(timeout)
            except SockbusError:
                pass  # what stays unconfirmed is reported when the session ends
        with self._state_lock:
            self.state = "closed"
            self._state_changed.notify_all()
            left = len(self._offline)
            self._offline.drain()
            if left:
                self.counters.dropped_by_client += left
            waiting = self._take_all_pending(lambda pending: True)
        self._wake.set()
        closed = SockbusError(CLIENT_CLOSED, "the client was closed")
        for pending in waiting:
            pending.settle(error=SockbusError(CLIENT_CLOSED, "the client was closed before the answer to %s arrived" % pending.what))
        if left:
            self._report_dropped(Dropped("client", left, "the client was closed before it could send them to a broker"))
        session = self._session
        if session:
            self._write(session, [(frame(pack([GOING_AWAY, "the client was closed"])), False)])
            try:
                session.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout)
        if session:
            session.end_reason = session.end_reason or closed
            session.socket.close()

    # -- sending ----------------------------------------------------------------

    def _publish_body(self, topic, data, headers, options):
        return encode_publish(topic, data, headers, options, self.limits)

    def _send_publish(self, publish_frame):
        """Writes a publish, or queues it when there is no usable connection; a write that fails queues it too."""
        while True:
            with self._state_lock:
                session = self._usable_session()
                if session is None:
                    dropped = self._offline.push(publish_frame)
                    self.counters.dropped_by_client += dropped
                    break
            if self._write(session, [(publish_frame, True)]):
                return
            # The connection broke under the write: the publish did not reach it whole. Queue it, or send it on a newer one.
        if dropped:
            self._report_dropped(Dropped("client", dropped, "the offline queue was full while disconnected (%d messages, %d bytes at most)" % (self._offline.max_messages, self._offline.max_bytes)))

    def _write(self, session, frames):
        """Writes frames ((bytes, is_publish) pairs) in one go; False when the connection broke first.

        What was not written whole is the caller's to queue or fail (see
        _send_publish). Publishes written whole are counted, and a ping follows
        them unless one is in flight, so that its pong confirms them (section 8).
        """
        with self._write_lock:
            if not session.usable:
                return False
            data = b"".join(item for item, _ in frames)
            sent, error = _send_counting(session.socket, data)
            offset = 0
            for item, is_publish in frames:
                offset += len(item)
                if is_publish and offset <= sent:
                    session.publishes_sent += 1
            if error is None and session.publishes_sent > session.publishes_confirmed and not session.pings:
                error = self._write_ping_locked(session)
            if error is not None:
                self._break(session, error)
            return sent == len(data)

    def _write_ping_locked(self, session, token=None):
        """Sends a ping under the write lock; returns the OSError that stopped it, or None."""
        if token is None:
            with self._state_lock:
                token = self._take_id()
        session.pings[token] = (time.monotonic(), session.publishes_sent)
        sent, error = _send_counting(session.socket, frame(pack([PING, token])))
        return error

    def _break(self, session, error):
        """A write failed or timed out: the session is over. Shutting the socket wakes the reader, which reconnects."""
        if session.end_reason is None:
            if isinstance(error, socket.timeout):
                session.end_reason = SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not read what this client sent for %d ms; it may be hung" % (self.path, self._send_timeout() * 1000))
            else:
                session.end_reason = SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s broke while sending: %s" % (self.path, error))
        try:
            session.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _ask(self, kind, table, what, timeout):
        """Sends a ping or stats request and waits for its answer."""
        self._check_open()
        self._check_not_reader(what)
        deadline = time.monotonic() + timeout
        with self._state_lock:
            session = self._wait_usable(deadline)
            if session is None:
                if self.state == "closed":
                    raise self._closed_error()
                raise SockbusError(BROKER_UNAVAILABLE, "no broker answered on %s within %d ms (%d publishes wait in the offline queue)" % (self.path, timeout * 1000, len(self._offline)))
            token = self._take_id()
            pending = table[token] = _Pending(session, what)
        with self._write_lock:
            if kind == PING:
                error = self._write_ping_locked(session, token) if session.usable else None
            else:
                error = _send_counting(session.socket, frame(pack([kind, token])))[1] if session.usable else None
            if error is not None:
                self._break(session, error)
        if not pending.event.wait(max(0.0, deadline - time.monotonic())):
            with self._state_lock:
                table.pop(token, None)
            raise SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not answer %s within %d ms; it may be hung" % (self.path, what, timeout * 1000))
        if pending.error:
            raise pending.error
        return pending.answer

    def _respond(self, session, reply_to, data, headers, error):
        body = encode_respond(reply_to, data, headers, error, session.limits)
        # An answer is taken only on the connection the request came on (section 3.12): there is no later one to queue it for.
        if session is not self._session or not self._write(session, [(frame(body), False)]):
            raise SockbusError(CONNECTION_CLOSED, "the connection the request came on has ended; the answer cannot reach its requester")

    # -- the connection ------------------------------------------------------

    def _open_session(self):
        """Connects, checks who listens, and completes the handshake (sections 1, 3.1 and 3.2)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.handshake_timeout)
            try:
                sock.connect(self.path)
            except (FileNotFoundError, ConnectionRefusedError):
                raise SockbusError(BROKER_UNAVAILABLE, "no broker is listening on %s (is sockbusd running?)" % self.path)
            except PermissionError:
                raise SockbusError(BROKER_UNAVAILABLE, "permission denied connecting to %s" % self.path)
            except OSError as error:
                raise SockbusError(BROKER_UNAVAILABLE, "cannot connect to %s: %s" % (self.path, error))
            self._check_broker(sock)
            hello = {"version": PROTOCOL_VERSION}
            if self.name:
                hello["name"] = self.name
            if self.no_echo:
                hello["noEcho"] = True
            decoder = FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES)
            try:
                sock.sendall(frame(pack([HELLO, hello])))
                first = self._read_first_message(sock, decoder)
            except socket.timeout:
                raise SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not answer hello within %d ms; it may be hung" % (self.path, self.handshake_timeout * 1000))
            except OSError as error:
                raise SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s broke during the handshake: %s" % (self.path, error))
            if first[0] == ERROR:
                raise SockbusError(first[1], first[2], first[3])
            if first[0] != WELCOME:
                raise SockbusError("INVALID_MESSAGE", "expected a welcome from the broker on %s, got kind %r" % (self.path, first[0]))
            # Writes that block this long mean a broker that does not read: it is treated as hung.
            sock.settimeout(self._send_timeout())
            return _Session(sock, decoder, first[1])
        except BaseException:
            sock.close()
            raise

    def _read_first_message(self, sock, decoder):
        while True:
            body = decoder.next_body()
            if body is not None:
                return decode_broker_message(body)
            chunk = sock.recv(65536)
            if not chunk:
                raise SockbusError(CONNECTION_CLOSED, "the broker on %s closed the connection during the handshake" % self.path)
            decoder.push(chunk)

    def _send_timeout(self):
        return self.ping_interval + self.ping_timeout

    def _check_broker(self, sock):
        """Anyone may bind the socket path while the broker is down: ask the kernel who listens before sending anything."""
        if hasattr(socket, "SO_PEERCRED"):
            credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", credentials)
        else:
            # Weaker: the file's owner is whoever bound it, but it could change between this and connect().
            uid = os.lstat(self.path).st_uid
            if not self._warned_weak_check:
                self._warned_weak_check = True
                print("sockbus: warning: cannot ask the kernel who runs the broker on %s (no SO_PEERCRED here); "
                      "trusting it by the socket file's owner instead, a weaker check" % self.path, file=sys.stderr)
        if uid in (0, os.getuid(), self.broker_uid):
            return
        runs = "the broker on %s runs as %s" % (self.path, _describe_user(uid))
        if self.broker_uid is None:
            raise SockbusError(UNTRUSTED_BROKER, "%s, not root or you; pass %s to trust it" % (runs, self._option_name))
        raise SockbusError(UNTRUSTED_BROKER, "%s, not %s as %s asks, nor root or you" % (runs, _describe_user(self.broker_uid), self._broker_uid_label))

    def _attach(self, session):
        """Makes a new session the current one: subscriptions again (pending until subscribed), then the offline queue, in order (section 8)."""
        with self._write_lock:
            with self._state_lock:
                if self.state == "closed":
                    session.socket.close()
                    return False
                for subscription in self._subscriptions.values():
                    subscription.state = "pending"
                frames = [(subscription.subscribe_frame(), False) for subscription in self._subscriptions.values()]
                queued = self._offline.drain()
                self._session = session
                self.welcome = session.welcome
                reconnected = self.state == "reconnecting"
                if reconnected:
                    self.counters.reconnects += 1
                self.state = "connected"
                self._state_changed.notify_all()
            frames += [(item, True) for item in queued]
            if frames:
                data = b"".join(item for item, _ in frames)
                sent, error = _send_counting(session.socket, data)
                offset, unsent = 0, []
                for item, is_publish in frames:
                    offset += len(item)
                    if is_publish:
                        if offset <= sent:
                            session.publishes_sent += 1
                        else:
                            unsent.append(item)
                if error is None and queued:
                    error = self._write_ping_locked(session)
                if error is not None:
                    self._break(session, error)
                    # What did not reach the broker whole waits for the next connection, first in line.
                    with self._state_lock:
                        unsent += self._offline.drain()
                        dropped = sum(self._offline.push(item) for item in unsent)
                        self.counters.dropped_by_client += dropped
                    if dropped:
                        self._report_dropped(Dropped("client", dropped, "the offline queue was full while disconnected"))
        if reconnected:
            self._call(self.on_reconnect)
        return True

    def _run(self):
        try:
            self._run_sessions()
        except Exception as error:  # a bug here must not leave the application waiting on a dead reader
            self._call(self.on_error, SockbusError("INTERNAL_ERROR", "the sockbus reader thread failed: %r" % (error,)))
            self._give_up(SockbusError(CONNECTION_CLOSED, "the sockbus reader thread failed: %r" % (error,)))

    def _run_sessions(self):
        """The one loop that owns the connection's lifecycle: serve a session, then reconnect, until closed."""
        session = self._session
        attempt = 0
        while True:
            reason = self._serve(session)
            session.end_reason = session.end_reason or reason
            self._end_session(session)
            if self.state == "closed":
                return
            self._call(self.on_disconnect, session.end_reason)
            if not self.reconnect:
                return self._give_up(session.end_reason)
            if time.monotonic() - session.opened_at >= STABLE_SESSION_SECONDS:
                attempt = 0
            while True:
                delay = self.reconnect_policy(attempt)
                attempt += 1
                if delay is None:
                    return self._give_up(session.end_reason)
                self._wait_before_retry(delay, _socket_file_identity(self.path))
                if self.state == "closed":
                    return
                try:
                    next_session = self._open_session()
                except SockbusError as error:
                    if error.code == UNTRUSTED_BROKER:
                        self._call(self.on_error, error)  # said every time: an impostor holds the socket
                    if error.code == "UNSUPPORTED_VERSION":
                        self._call(self.on_error, error)
                        return self._give_up(error)  # a broker that refuses our version will refuse it again
                    continue
                if self._attach(next_session):
                    session = next_session
                    break
                return

    def _serve(self, session):
        """Reads and handles frames until the session ends; returns why it ended. Also the heartbeat (section 8)."""
        sock = session.socket
        period = max(0.01, min(self.ping_interval, self.ping_timeout) / 2)
        # Frames that came in the same read as the welcome are already in the decoder.
        failure = self._take_frames(session, b"")
        if failure:
            return failure
        while True:
            if session.end_reason:
                return session.end_reason
            try:
                readable = select.select([sock], [], [], period)[0]
            except (OSError, ValueError) as error:
                return SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s ended: %s" % (self.path, error))
            now = time.monotonic()
            if readable:
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    chunk = None
                except OSError as error:
                    return session.end_reason or SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s ended: %s" % (self.path, error))
                if chunk == b"":
                    if session.going_away is not None:
                        return SockbusError(CONNECTION_CLOSED, "the broker on %s went away: %s" % (self.path, session.going_away))
                    return session.end_reason or SockbusError(CONNECTION_CLOSED, "the broker on %s closed the connection" % self.path)
                if chunk:
                    session.last_heard = now
                    failure = self._take_frames(session, chunk)
                    if failure:
                        return failure
            failure = self._check_heartbeat(session, now)
            if failure:
                return failure

    def _take_frames(self, session, chunk):
        """Handles every whole frame in the bytes read; returns why the session must end, or None."""
        try:
            session.decoder.push(chunk)
            while True:
                body = session.decoder.next_body()
                if body is None:
                    return None
                try:
                    message = decode_broker_message(body)
                except SockbusError as error:
                    self._call(self.on_error, error)
                    # Well framed but not decodable: most likely a delivery, lost to the application, so counted.
                    if getattr(error, "kind", MESSAGE) == MESSAGE:
                        with self._state_lock:
                            self.counters.dropped_by_client += 1
                        self._report_dropped(Dropped("client", 1, error.message))
                    continue
                self._handle(session, message)
                if session.end_reason:
                    return session.end_reason
        except SockbusError as error:
            # A length prefix past the announced limit, or of 0: this broker is broken. Close, report, reconnect.
            self._call(self.on_error, error)
            return error

    def _check_heartbeat(self, session, now):
        """Pings a silent broker; one that leaves a ping unanswered for ping_timeout is hung, talking or not."""
        asked = list(session.pings.values())
        if asked:
            asked_at = min(sent_at for sent_at, _ in asked)
            if now - asked_at >= self.ping_timeout:
                error = SockbusError(BROKER_UNRESPONSIVE, "the broker on %s left a ping unanswered for %d ms; it may be hung" % (self.path, (now - asked_at) * 1000))
                self._call(self.on_error, error)
                return error
        elif now - session.last_heard >= self.ping_interval:
            with self._write_lock:
                error = self._write_ping_locked(session) if session.usable else None
                if error is not None:
                    self._break(session, error)
        return None

    def _end_session(self, session):
        """Fails what waited on the session, and says how many publishes it leaves unconfirmed."""
        with self._state_lock:
            if self._session is session and self.state != "closed":
                self.state = "reconnecting"
                self._state_changed.notify_all()
            waiting = self._take_all_pending(lambda pending: pending.session is session)
            unconfirmed = session.publishes_sent - session.publishes_confirmed
            session.publishes_confirmed = session.publishes_sent
            self.counters.unconfirmed += unconfirmed
        try:
            session.socket.close()
        except OSError:
            pass
        closed_by_client = self.state == "closed"
        for pending in waiting:
            if closed_by_client:
                pending.settle(error=SockbusError(CLIENT_CLOSED, "the client was closed before the answer to %s arrived" % pending.what))
            else:
                pending.settle(error=SockbusError(CONNECTION_CLOSED, "the connection to the broker was lost before the answer to %s arrived (%s)" % (pending.what, session.end_reason.message)))
        if unconfirmed:
            self._report_dropped(Dropped("connection", unconfirmed, "the connection ended before the broker confirmed these publishes; they may or may not have been delivered"))

    def _give_up(self, reason):
        with self._state_lock:
            self.state = "closed"
            self.closed_reason = reason
            self._state_changed.notify_all()
            left = len(self._offline)
            self._offline.drain()
            self.counters.dropped_by_client += left
            waiting = self._take_all_pending(lambda pending: True)
        for pending in waiting:
            pending.settle(error=reason)
        if left:
            self._report_dropped(Dropped("client", left, "the client stopped reconnecting before it could send them: %s" % reason.message))

    def _wait_before_retry(self, delay, failed_file):
        """Waits out the backoff, looking for a new socket file every 25 ms; one that appears is dialled after [0, 100) ms (section 8)."""
        deadline = time.monotonic() + delay
        watching = True
        while self.state != "closed":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(min(remaining, SOCKET_POLL_INTERVAL) if watching else remaining)
            if watching:
                current = _socket_file_identity(self.path)
                if current is not None and current != failed_file:
                    watching = False
                    deadline = min(deadline, time.monotonic() + self._random() * NEW_SOCKET_JITTER)

    # -- what the broker sends ------------------------------------------------

    def _handle(self, session, message):
        kind = message[0]
        if kind == MESSAGE:
            self._dispatch(session, message)
        elif kind == SUBSCRIBED:
            with self._state_lock:
                subscription = self._subscriptions.get(message[1])
                if subscription is not None and subscription.state == "pending":
                    subscription.state = "active"
        elif kind == REPLY:
            self._settle_reply(message)
        elif kind == PING:
            with self._write_lock:
                if session.usable:
                    error = _send_counting(session.socket, frame(pack([PONG, message[1]])))[1]
                    if error is not None:
                        self._break(session, error)
        elif kind == PONG:
            self._settle_pong(session, message[1])
        elif kind == ERROR:
            self._handle_error(session, message)
        elif kind == DROPPED:
            with self._state_lock:
                self.counters.dropped_by_broker += message[1]
            self._report_dropped(Dropped("broker", message[1], "the broker's buffer for this client was full"))
        elif kind == STATS:
            with self._state_lock:
                pending = self._stats.pop(message[1], None)
            if pending:
                pending.settle(answer=message[2])
        elif kind == GOING_AWAY:
            session.going_away = message[1]  # the broker closes next; the loop then reconnects
        # Kinds this client does not know are ignored (section 3.0).

    def _dispatch(self, session, message):
        """Section 3.7: with 'sub' to that subscription only; without, to each matching plain subscription already subscribed."""
        _, topic, data, headers, info, sender = message
        info = info or {}
        with self._state_lock:
            self.counters.received += 1
            if "sub" in info:
                held = self._subscriptions.get(info["sub"])
                targets = [held] if held is not None else []
            else:
                targets = [s for s in self._subscriptions.values() if s.queue is None and s.state == "active" and pattern_matches(s.pattern, topic)]
        if not targets:
            return  # unsubscribed or refused meanwhile: dropped without complaint (sections 3.5 and 3.7)
        delivered = Message(self, session, topic, data, headers, info, sender)
        for subscription in targets:
            try:
                subscription.callback(delivered)
            except Exception as error:  # a failing callback must not stop the reader
                with self._state_lock:
                    self.counters.handler_failures += 1
                self._call(self.on_error, SockbusError(HANDLER_FAILED, "callback of %s raised: %r" % (subscription.pattern, error)))

    def _settle_reply(self, message):
        _, request_id, data, headers, error, sender = message
        with self._state_lock:
            pending = self._requests.pop(request_id, None)
            if pending is None:
                self.counters.late_replies += 1
                return  # a reply that crossed its timeout (section 3.12)
        if error is not None:
            failure = SockbusError(error.get("code") or "REQUEST_FAILED", error.get("message") or "")
            failure.sender = sender_of(sender)
            pending.settle(error=failure)
        else:
            pending.settle(answer=Reply(data, headers or {}, sender))

    def _settle_pong(self, session, token):
        with self._write_lock:
            asked = session.pings.pop(token, None)
            if asked is not None:
                # Everything written before the ping has been handled by the broker (section 3.6).
                session.publishes_confirmed = max(session.publishes_confirmed, asked[1])
                if session.usable and session.publishes_sent > session.publishes_confirmed and not session.pings:
                    error = self._write_ping_locked(session)
                    if error is not None:
                        self._break(session, error)
        with self._state_lock:
            pending = self._flushes.pop(token, None)
        if pending:
            pending.settle()

    def _handle_error(self, session, message):
        """Section 3.8: about says which frame the error answers; 'sub' means the broker holds no such subscription."""
        _, code, text, about = message
        error = SockbusError(code, text, about)
        if about is not None and is_uint(about.get("sub")):
            with self._state_lock:
                subscription = self._subscriptions.pop(about["sub"], None)
            if subscription is not None:
                # Forgotten for good: not subscribed again after a reconnect.
                subscription.state = "ended"
                subscription.error = error
                error.subscription = subscription
        if code in CLOSING_CODES:
            session.end_reason = error
        self._call(self.on_error, error)

    # -- helpers ----------------------------------------------------------------

    def _usable_session(self):
        """The current session if it can be written to; call with _state_lock held."""
        session = self._session
        return session if self.state == "connected" and session is not None and session.usable else None

    def _wait_usable(self, deadline):
        """Waits (with _state_lock held) for a usable session until the deadline; None when there is none or the client closed."""
        while True:
            session = self._usable_session()
            if session is not None or self.state == "closed":
                return session
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._state_changed.wait(min(remaining, SOCKET_POLL_INTERVAL))

    def _take_all_pending(self, which):
        """Removes and returns what awaits an answer and passes which(); call with _state_lock held."""
        taken = []
        for table in (self._requests, self._flushes, self._stats):
            for key, pending in list(table.items()):
                if which(pending):
                    taken.append(table.pop(key))
        return taken

    def _take_id(self):
        identifier = self._next_id
        self._next_id = identifier + 1 if identifier < 0xFFFFFFFF else 1
        return identifier

    def _request_timeout(self, topic, timeout):
        return SockbusError(REQUEST_TIMEOUT, "no reply to the request on %s within %d ms" % (topic, timeout * 1000))

    def _closed_error(self):
        if self.closed_reason is not None:
            return SockbusError(self.closed_reason.code, "the client stopped: %s" % self.closed_reason.message)
        return SockbusError(CLIENT_CLOSED, "the client is closed")

    def _check_open(self):
        if self.state == "closed":
            raise self._closed_error()

    def _check_not_reader(self, what):
        # The reader thread runs the callbacks and is the one that would read the answer.
        if threading.current_thread() is getattr(self, "_reader", None):
            raise RuntimeError("%s waits for the reader thread, which runs callbacks: send it from another thread" % what)

    def _report_dropped(self, notice):
        self._call(self.on_dropped, notice)

    def _call(self, callback, *arguments):
        """Runs an application callback; one that raises is said on stderr, and the client goes on."""
        try:
            callback(*arguments)
        except Exception as error:
            print("sockbus: a callback raised: %s" % escape_controls(repr(error)), file=sys.stderr)


def _print_error(error):
    print("sockbus: %s" % escape_controls(error), file=sys.stderr)


def _print_dropped(notice):
    print("sockbus: %s" % escape_controls(notice), file=sys.stderr)


def _send_counting(sock, data):
    """Writes data; returns (bytes written, the OSError that stopped it or None), so a caller knows which frames left whole."""
    view = memoryview(data)
    sent = 0
    try:
        while sent < len(view):
            sent += sock.send(view[sent:])
    except OSError as error:
        return sent, error
    return sent, None


def _socket_file_identity(path):
    """Which socket file is at the path, or None when there is none: a new broker makes a new one.

    The change time is part of it because a file system may give the new file the inode the old one had.
    """
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino, status.st_ctime_ns)


def connect(path=None, name="", **options):
    return Client(path, name, **options)
