"""The client's reader thread: the one loop that owns the connection's lifecycle (serve a session,
then reconnect, until closed), and what the broker sends (PROTOCOL.md sections 3 and 8)."""

import functools
import threading
import time

from .backoff import STABLE_SESSION_SECONDS, socket_file_identity, wait_before_retry
from .counters import Dropped
from .errors import CLIENT_CLOSED, CLOSING_CODES, CONNECTION_CLOSED, HANDLER_FAILED, UNTRUSTED_BROKER, SockbusError
from .handshake import open_session
from .messages import Message, Reply
from .terminal import run_callback
from .wire import (DROPPED, ERROR, GOING_AWAY, MESSAGE, PING, PONG, REPLY, STATS, SUBSCRIBED, decode_broker_message,
                   encode_respond, frame, is_uint, pack, sender_of)


class Reader:
    """Reads for a Client (its settings and callbacks are read from it each time, so the application may change them)."""

    def __init__(self, client, state, trust, rand):
        self._client = client
        self._state = state
        self._trust = trust
        self._random = rand
        # Set by close(): the backoff's wait ends at once.
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sockbus-reader", daemon=True)

    def start(self):
        self._thread.start()

    def is_current(self):
        return threading.current_thread() is self._thread

    def join(self, timeout):
        self._thread.join(timeout)

    def wake(self):
        self._wake.set()

    def dial(self):
        """A new session with the broker, or the SockbusError that stopped it."""
        client = self._client
        return open_session(client.path, client.name, client.no_echo, self._trust, client.handshake_timeout,
                            client.ping_interval + client.ping_timeout, self._state.new_id)

    def attach(self, session):
        """Makes a new session the current one: subscriptions again (pending until subscribed), then the offline queue, in order (section 8)."""
        with session.lock:
            taken = self._state.attach(session)
            if taken is None:
                session.socket.close()
                return False
            frames, queued, reconnected = taken
            frames = [(item, False) for item in frames] + [(item, True) for item in queued]
            if frames:
                unsent, error = session.write_locked(frames)[1:]
                if error is not None:
                    # What did not reach the broker whole waits for the next connection, first in line.
                    dropped = self._state.requeue(unsent)
                    if dropped:
                        self._report_dropped(Dropped("client", dropped, "the offline queue was full while disconnected"))
        if reconnected:
            run_callback(self._client.on_reconnect)
        return True

    # -- the loop ---------------------------------------------------------------

    def _run(self):
        try:
            self._run_sessions()
        except Exception as error:  # a bug here must not leave the application waiting on a dead reader
            run_callback(self._client.on_error, SockbusError("INTERNAL_ERROR", "the sockbus reader thread failed: %r" % (error,)))
            self._give_up(SockbusError(CONNECTION_CLOSED, "the sockbus reader thread failed: %r" % (error,)))

    def _run_sessions(self):
        """Serve a session, then reconnect, until closed."""
        client, state = self._client, self._state
        session = state.session
        attempt = 0
        while True:
            session.end(self._serve(session))
            self._end_session(session)
            if state.state == "closed":
                return
            run_callback(client.on_disconnect, session.end_reason)
            if not client.reconnect:
                return self._give_up(session.end_reason)
            if time.monotonic() - session.opened_at >= STABLE_SESSION_SECONDS:
                attempt = 0
            while True:
                delay = client.reconnect_policy(attempt)
                attempt += 1
                if delay is None:
                    return self._give_up(session.end_reason)
                wait_before_retry(delay, client.path, socket_file_identity(client.path), self._wake, lambda: state.state == "closed", self._random)
                if state.state == "closed":
                    return
                try:
                    next_session = self.dial()
                except SockbusError as error:
                    if error.code == UNTRUSTED_BROKER:
                        run_callback(client.on_error, error)  # said every time: an impostor holds the socket
                    if error.code == "UNSUPPORTED_VERSION":
                        run_callback(client.on_error, error)
                        return self._give_up(error)  # a broker that refuses our version will refuse it again
                    continue
                if self.attach(next_session):
                    session = next_session
                    break
                return

    def _serve(self, session):
        """Reads and handles frames until the session ends; returns why it ended. Also the heartbeat (section 8)."""
        client = self._client
        period = max(0.01, min(client.ping_interval, client.ping_timeout) / 2)
        # Frames that came in the same read as the welcome are already in the decoder.
        failure = self._take_frames(session, b"")
        if failure:
            return failure
        while True:
            if session.end_reason:
                return session.end_reason
            now, chunk, failure = session.read(period)
            if failure:
                return failure
            if chunk:
                failure = self._take_frames(session, chunk)
                if failure:
                    return failure
            failure = session.heartbeat(now, client.ping_interval, client.ping_timeout)
            if failure:
                run_callback(client.on_error, failure)
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
                    run_callback(self._client.on_error, error)
                    # Well framed but not decodable: most likely a delivery, lost to the application, so counted.
                    if getattr(error, "kind", MESSAGE) == MESSAGE:
                        with self._state.lock:
                            self._state.counters.dropped_by_client += 1
                        self._report_dropped(Dropped("client", 1, error.message))
                    continue
                self._handle(session, message)
                if session.end_reason:
                    return session.end_reason
        except SockbusError as error:
            # A length prefix past the announced limit, or of 0: this broker is broken. Close, report, reconnect.
            run_callback(self._client.on_error, error)
            return error

    def _end_session(self, session):
        """Fails what waited on the session, and says how many publishes it leaves unconfirmed."""
        waiting, unconfirmed = self._state.detach(session)
        try:
            session.socket.close()
        except OSError:
            pass
        closed_by_client = self._state.state == "closed"
        for pending in waiting:
            if closed_by_client:
                pending.settle(error=SockbusError(CLIENT_CLOSED, "the client was closed before the answer to %s arrived" % pending.what))
            else:
                pending.settle(error=SockbusError(CONNECTION_CLOSED, "the connection to the broker was lost before the answer to %s arrived (%s)" % (pending.what, session.end_reason.message)))
        if unconfirmed:
            self._report_dropped(Dropped("connection", unconfirmed, "the connection ended before the broker confirmed these publishes; they may or may not have been delivered"))

    def _give_up(self, reason):
        left, waiting = self._state.stop(reason)
        for pending in waiting:
            pending.settle(error=reason)
        if left:
            self._report_dropped(Dropped("client", left, "the client stopped reconnecting before it could send them: %s" % reason.message))

    # -- what the broker sends ------------------------------------------------

    def _handle(self, session, message):
        state = self._state
        kind = message[0]
        if kind == MESSAGE:
            self._dispatch(session, message)
        elif kind == SUBSCRIBED:
            with state.lock:
                state.subscriptions.acknowledge(message[1])
        elif kind == REPLY:
            self._settle_reply(message)
        elif kind == PING:
            session.send(frame(pack([PONG, message[1]])))
        elif kind == PONG:
            session.confirm(message[1])
            with state.lock:
                pending = state.flushes.pop(message[1], None)
            if pending:
                pending.settle()
        elif kind == ERROR:
            self._handle_error(session, message)
        elif kind == DROPPED:
            with state.lock:
                state.counters.dropped_by_broker += message[1]
            self._report_dropped(Dropped("broker", message[1], "the broker's buffer for this client was full"))
        elif kind == STATS:
            with state.lock:
                pending = state.stats.pop(message[1], None)
            if pending:
                pending.settle(answer=message[2])
        elif kind == GOING_AWAY:
            session.going_away_said(message[1])  # the broker closes next; the loop then reconnects
        # Kinds this client does not know are ignored (section 3.0).

    def _dispatch(self, session, message):
        """Section 3.7: with 'sub' to that subscription only; without, to each matching plain subscription already subscribed."""
        _, topic, data, headers, info, sender = message
        info = info or {}
        state = self._state
        with state.lock:
            state.counters.received += 1
            targets = state.subscriptions.receivers(info, topic)
        if not targets:
            return  # unsubscribed or refused meanwhile: dropped without complaint (sections 3.5 and 3.7)
        delivered = Message(functools.partial(self._answer, session), topic, data, headers, info, sender)
        for subscription in targets:
            try:
                subscription.callback(delivered)
            except Exception as error:  # a failing callback must not stop the reader
                with state.lock:
                    state.counters.handler_failures += 1
                run_callback(self._client.on_error, SockbusError(HANDLER_FAILED, "callback of %s raised: %r" % (subscription.pattern, error)))

    def _answer(self, session, reply_to, data, headers, error):
        """Message.respond(): only on the connection the request came on (section 3.12); there is no later one to queue it for."""
        body = encode_respond(reply_to, data, headers, error, session.limits)
        if session is not self._state.session or not session.write([(frame(body), False)]):
            raise SockbusError(CONNECTION_CLOSED, "the connection the request came on has ended; the answer cannot reach its requester")

    def _settle_reply(self, message):
        _, request_id, data, headers, error, sender = message
        state = self._state
        with state.lock:
            pending = state.requests.pop(request_id, None)
            if pending is None:
                state.counters.late_replies += 1
                return  # a reply that crossed its timeout (section 3.12)
        if error is not None:
            failure = SockbusError(error.get("code") or "REQUEST_FAILED", error.get("message") or "")
            failure.sender = sender_of(sender)
            pending.settle(error=failure)
        else:
            pending.settle(answer=Reply(data, headers or {}, sender))

    def _handle_error(self, session, message):
        """Section 3.8: about says which frame the error answers; 'sub' means the broker holds no such subscription."""
        _, code, text, about = message
        error = SockbusError(code, text, about)
        if about is not None and is_uint(about.get("sub")):
            with self._state.lock:
                error.subscription = self._state.subscriptions.refuse(about["sub"], error)
        if code in CLOSING_CODES:
            session.closing(error)
        run_callback(self._client.on_error, error)

    def _report_dropped(self, notice):
        run_callback(self._client.on_dropped, notice)
