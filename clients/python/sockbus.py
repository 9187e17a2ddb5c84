"""A sockbus client for Python, written from PROTOCOL.md.

Standard library sockets and threads, plus msgpack (Debian: python3-msgpack).
Publish, subscribe with wildcards and queue groups, request/reply, retained
values, and reconnection with resubscription when the broker restarts.

    import sockbus
    bus = sockbus.connect(name="sensor")
    bus.subscribe("commands.>", lambda message: print(message.topic, message.data))
    bus.publish("telemetry.temp", {"celsius": 21.5})
    reply = bus.request("time.now", None, timeout=1.0)
    bus.close()

Run as a program for a small command line: python3 sockbus.py --help
"""

import json
import os
import pwd
import random
import re
import socket
import struct
import sys
import threading
import time

import msgpack

PROTOCOL_VERSION = 1
DEFAULT_PATH = "/tmp/sockbus.sock"
BROKER_UID_VARIABLE = "SOCKBUS_BROKER_UID"

# Message kinds (PROTOCOL.md section 3).
HELLO, WELCOME, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, MESSAGE = 1, 2, 3, 4, 5, 6
PING, PONG, ERROR, GOING_AWAY, DROPPED, STATS_REQUEST, STATS = 7, 8, 9, 10, 11, 12, 13
RESPOND, REPLY = 14, 15


class SockbusError(Exception):
    """An error with the protocol's stable code, from the broker or found locally."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


def socket_path(path=None):
    """The broker's socket: the argument, else $SOCKBUS_SOCKET, else /tmp/sockbus.sock (section 1)."""
    return path or os.environ.get("SOCKBUS_SOCKET") or DEFAULT_PATH


_UNSAFE = re.compile("[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text):
    """A peer's text for a terminal: controls, bidi controls and line separators escaped, so it cannot forge a line."""
    def escaped(match):
        character = match.group()
        code = ord(character)
        return _NAMED.get(character) or ("\\x%02x" % code if code <= 0xFF else "\\u%04x" % code)
    return _UNSAFE.sub(escaped, str(text))


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
        raise SockbusError("UNTRUSTED_BROKER", '%s "%s" names no user on this system' % (label, given))


def pattern_matches(pattern, topic):
    """Section 4: '*' is one token, '>' one or more at the end; a leading wildcard skips '$' topics."""
    pattern_tokens = pattern.split(".")
    topic_tokens = topic.split(".")
    if pattern_tokens[0] in ("*", ">") and topic.startswith("$"):
        return False
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(topic_tokens) > index
        if index >= len(topic_tokens):
            return False
        if token != "*" and token != topic_tokens[index]:
            return False
    return len(pattern_tokens) == len(topic_tokens)


def _pack(value):
    return msgpack.packb(value, use_bin_type=True)


def _unpack(body):
    return msgpack.unpackb(body, raw=False, strict_map_key=False)


class Message:
    """A delivered message. When it is a request (is_request), answer it with respond()."""

    def __init__(self, client, topic, data, headers, info, sender):
        self.topic = topic
        self.data = data
        self.headers = headers or {}
        info = info or {}
        self.retained = bool(info.get("retained"))
        # [uid, pid] as the kernel told the broker; None when the broker cannot tell.
        self.sender = {"uid": sender[0], "pid": sender[1]} if sender else None
        self._reply_to = info.get("reply")
        self._client = client

    @property
    def is_request(self):
        return self._reply_to is not None

    def respond(self, data, headers=None):
        self._client._respond(self._checked_reply_to(), data, headers, None)

    def respond_error(self, message, code="REQUEST_FAILED", headers=None):
        self._client._respond(self._checked_reply_to(), None, headers, {"code": code, "message": message})

    def _checked_reply_to(self):
        if self._reply_to is None:
            raise SockbusError("NOT_A_REQUEST", "the message on %s is not a request: nobody awaits an answer" % self.topic)
        return self._reply_to


class Reply(tuple):
    """The answer to a request: unpacks as (data, headers), and says who answered.

    sender is {"uid", "pid"} from the responder's kernel credentials, as the
    broker stamped them (section 3.12), or None when the broker does not say.
    """

    def __new__(cls, data, headers, sender):
        reply = super().__new__(cls, (data, headers))
        reply.sender = {"uid": sender[0], "pid": sender[1]} if sender else None
        return reply

    @property
    def data(self):
        return self[0]

    @property
    def headers(self):
        return self[1]


class Subscription:
    def __init__(self, client, subscription_id, pattern, callback, queue):
        self.id = subscription_id
        self.pattern = pattern
        self.callback = callback
        self.queue = queue
        self._client = client

    def unsubscribe(self):
        self._client.unsubscribe(self)

    def _subscribe_message(self):
        if self.queue is None:
            return [SUBSCRIBE, self.id, self.pattern]
        return [SUBSCRIBE, self.id, self.pattern, {"queue": self.queue}]


class _Pending:
    """A request or ping awaiting its answer."""

    def __init__(self):
        self.event = threading.Event()
        self.answer = None
        self.error = None

    def settle(self, answer=None, error=None):
        self.answer, self.error = answer, error
        self.event.set()


class Client:
    """One connection to sockbusd that reconnects and resubscribes by itself.

    Callbacks run on the client's reader thread, one at a time, in order.
    """

    def __init__(self, path=None, name="", reconnect=True, max_reconnect_delay=2.0, on_error=None, on_reconnect=None, broker_uid=None, option_name="broker_uid"):
        self.path = socket_path(path)
        # Who may run the broker besides root and this user (section 1): anyone else is refused before hello.
        self.broker_uid, self._broker_uid_label = _resolve_broker_uid(broker_uid, option_name)
        self._option_name = option_name
        self._warned_weak_check = False
        self.name = name
        self.reconnect = reconnect
        self.max_reconnect_delay = max_reconnect_delay
        self.on_error = on_error or (lambda error: print("sockbus: %s" % escape_controls(error), file=sys.stderr))
        self.on_reconnect = on_reconnect or (lambda: None)
        self.welcome = None
        # Messages that could not be written because the connection was down: counted, not buffered.
        self.dropped = 0
        self._socket = None
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._subscriptions = {}
        self._pending = {}  # request id -> _Pending, for replies
        self._pings = {}  # ping token -> _Pending, for pongs
        self._next_id = 1
        self._closed = False
        self._open()
        self._reader = threading.Thread(target=self._read_forever, name="sockbus-reader", daemon=True)
        self._reader.start()

    # -- the public API ----------------------------------------------------

    def publish(self, topic, data, headers=None, retain=False):
        options = {"retain": True} if retain else None
        self._send(self._publish_message(topic, data, headers, options))

    def subscribe(self, pattern, callback, queue=None):
        with self._state_lock:
            subscription = Subscription(self, self._take_id(), pattern, callback, queue)
            self._subscriptions[subscription.id] = subscription
        self._send(subscription._subscribe_message())
        return subscription

    def unsubscribe(self, subscription):
        with self._state_lock:
            if self._subscriptions.pop(subscription.id, None) is None:
                return
        self._send([UNSUBSCRIBE, subscription.id])

    def request(self, topic, data, timeout=5.0, headers=None):
        """Returns the first reply, a Reply: (data, headers), and .sender; raises SockbusError for NO_RESPONDERS, TIMEOUT or an error reply."""
        with self._state_lock:
            request_id = self._take_id()
            pending = self._pending[request_id] = _Pending()
        self._send(self._publish_message(topic, data, headers, {"request": request_id}))
        if not pending.event.wait(timeout):
            with self._state_lock:
                self._pending.pop(request_id, None)
            raise SockbusError("TIMEOUT", "no reply to the request on %s within %d ms" % (topic, timeout * 1000))
        if pending.error:
            raise pending.error
        return pending.answer

    def flush(self, timeout=5.0):
        """Returns once the broker has processed everything sent before (a ping and its pong, section 3.6)."""
        with self._state_lock:
            token = self._take_id()
            pending = self._pings[token] = _Pending()
        self._send([PING, token])
        if not pending.event.wait(timeout):
            raise SockbusError("TIMEOUT", "the broker did not answer a ping within %d ms" % (timeout * 1000))
        if pending.error:
            raise pending.error

    def close(self):
        self._closed = True
        try:
            self._send([GOING_AWAY, "the client was closed"])
            self._socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._reader.join(timeout=2.0)
        self._socket.close()

    # -- the connection ------------------------------------------------------

    def _open(self):
        """Connects and completes the handshake (sections 3.1 and 3.2)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except FileNotFoundError:
            raise SockbusError("BROKER_UNAVAILABLE", "no broker is listening on %s (is sockbusd running?)" % self.path)
        except ConnectionRefusedError:
            raise SockbusError("BROKER_UNAVAILABLE", "no broker is listening on %s (is sockbusd running?)" % self.path)
        except PermissionError:
            raise SockbusError("BROKER_UNAVAILABLE", "permission denied connecting to %s" % self.path)
        try:
            self._check_broker(sock)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(5.0)
        sock.sendall(_frame([HELLO, {"version": PROTOCOL_VERSION, "name": self.name}]))
        reader = _FrameReader(sock)
        first = _unpack(reader.next_frame())
        if first[0] == ERROR:
            raise SockbusError(first[1], first[2])
        if first[0] != WELCOME:
            raise SockbusError("INVALID_MESSAGE", "expected welcome from the broker, got kind %r" % first[0])
        sock.settimeout(None)
        self.welcome = first[1]
        self._socket, self._frames = sock, reader
        # Resubscribe after a reconnect: same ids, on a new connection (section 8).
        with self._state_lock:
            subscriptions = list(self._subscriptions.values())
        for subscription in subscriptions:
            self._send(subscription._subscribe_message())

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
            raise SockbusError("UNTRUSTED_BROKER", "%s, not root or you; pass %s to trust it" % (runs, self._option_name))
        raise SockbusError("UNTRUSTED_BROKER", "%s, not %s as %s asks, nor root or you" % (runs, _describe_user(self.broker_uid), self._broker_uid_label))

    def _read_forever(self):
        while True:
            try:
                while True:
                    self._handle(_unpack(self._frames.next_frame()))
            except (OSError, EOFError, ValueError) as error:
                reason = SockbusError("CONNECTION_CLOSED", "the connection to the broker on %s ended: %s" % (self.path, error or "closed"))
            self._fail_pending(reason)
            if self._closed or not self.reconnect or not self._reconnect():
                return
            self.on_reconnect()

    def _reconnect(self):
        """Capped exponential backoff with full jitter, until the broker is back or the client is closed."""
        attempt = 0
        while not self._closed:
            time.sleep(random.uniform(0, min(self.max_reconnect_delay, 0.02 * 2 ** attempt)))
            attempt += 1
            try:
                self._open()
                return True
            except SockbusError as error:
                if error.code == "UNTRUSTED_BROKER":
                    self.on_error(error)  # said every time: an impostor holds the socket
                continue
            except (OSError, EOFError):
                continue
        return False

    def _handle(self, message):
        kind = message[0]
        if kind == MESSAGE:
            self._dispatch(message)
        elif kind == REPLY:
            with self._state_lock:
                pending = self._pending.pop(message[1], None)
            if pending is None:
                return  # a later reply to a request already answered: dropped (section 3.12)
            error = message[4] if len(message) > 4 else None
            if error:
                pending.settle(error=SockbusError(error["code"], error["message"]))
            else:
                headers = (message[3] if len(message) > 3 else None) or {}
                pending.settle(answer=Reply(message[2], headers, message[5] if len(message) > 5 else None))
        elif kind == PING:
            self._send([PONG, message[1]])
        elif kind == PONG:
            with self._state_lock:
                pending = self._pings.pop(message[1], None)
            if pending:
                pending.settle()
        elif kind == ERROR:
            subscription_id = message[3] if len(message) > 3 else None
            if subscription_id is not None:
                with self._state_lock:
                    self._subscriptions.pop(subscription_id, None)
            self.on_error(SockbusError(message[1], message[2]))
        elif kind == DROPPED:
            self.on_error(SockbusError("DROPPED", "the broker dropped %d message(s) for this client: it did not read fast enough" % message[1]))
        # going-away: the connection ends next, and the reader reconnects.

    def _dispatch(self, message):
        """Section 3.7: by 'sub' when the broker names one, else to every matching plain subscription."""
        topic, data = message[1], message[2]
        headers = message[3] if len(message) > 3 else None
        info = (message[4] if len(message) > 4 else None) or {}
        sender = message[5] if len(message) > 5 else None
        delivered = Message(self, topic, data, headers, info, sender)
        with self._state_lock:
            if "sub" in info:
                targets = [self._subscriptions[info["sub"]]] if info["sub"] in self._subscriptions else []
            else:
                targets = [s for s in self._subscriptions.values() if s.queue is None and pattern_matches(s.pattern, topic)]
        for subscription in targets:
            try:
                subscription.callback(delivered)
            except Exception as error:  # a failing callback must not stop the reader
                self.on_error(SockbusError("HANDLER_FAILED", "callback of %s raised: %r" % (subscription.pattern, error)))

    def _fail_pending(self, reason):
        with self._state_lock:
            pending = list(self._pending.values()) + list(self._pings.values())
            self._pending.clear()
            self._pings.clear()
        for waiting in pending:
            waiting.settle(error=reason)

    # -- helpers ----------------------------------------------------------------

    def _publish_message(self, topic, data, headers, options):
        if options is None:
            return [PUBLISH, topic, data, headers] if headers else [PUBLISH, topic, data]
        return [PUBLISH, topic, data, headers, options]

    def _respond(self, reply_to, data, headers, error):
        self._send([RESPOND, reply_to, data, headers, error])

    def _take_id(self):
        identifier = self._next_id
        self._next_id += 1
        return identifier

    def _send(self, message):
        frame = _frame(message)
        with self._write_lock:
            try:
                self._socket.sendall(frame)
            except OSError:
                self.dropped += 1  # the reader notices the broken connection and reconnects


def connect(path=None, name="", **options):
    return Client(path, name, **options)


def _frame(message):
    """A frame: a big-endian uint32 length, then one msgpack value (section 2)."""
    body = _pack(message)
    return struct.pack(">I", len(body)) + body


class _FrameReader:
    def __init__(self, sock):
        self._socket = sock
        self._buffer = bytearray()

    def next_frame(self):
        length = struct.unpack(">I", self._read(4))[0]
        return self._read(length)

    def _read(self, count):
        while len(self._buffer) < count:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise EOFError("the broker closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


# -- a small command line, mirroring the sockbus CLI ------------------------

USAGE = """usage: sockbus.py [--socket PATH] [--name NAME] [--broker-uid USER] COMMAND ...
  pub TOPIC [JSON] [--retain]       publish (JSON if it parses, else a string)
  sub PATTERN [--count N] [--queue NAME]
                                    print one JSON line per message
  req TOPIC [JSON] [--timeout S]    send a request, print the reply
  reply PATTERN [JSON] [--count N]  answer requests with JSON
"""


def _json_value(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_default(value):
    if isinstance(value, (bytes, bytearray)):
        import base64
        return {"$base64": base64.b64encode(value).decode("ascii")}
    return str(value)


def _message_line(message):
    line = {"topic": message.topic, "data": message.data, "headers": message.headers}
    if message.retained:
        line["retained"] = True
    return json.dumps(line, default=_json_default, separators=(",", ":"))


def main(argv):
    options, words = {}, []
    flags = {"--socket", "--name", "--count", "--queue", "--timeout", "--broker-uid"}
    iterator = iter(argv)
    for word in iterator:
        if word in flags:
            options[word] = next(iterator, None)
        elif word == "--retain":
            options[word] = True
        elif word in ("-h", "--help"):
            print(USAGE, end="")
            return 0
        else:
            words.append(word)
    if not words:
        print(USAGE, end="", file=sys.stderr)
        return 2
    command, arguments = words[0], words[1:]
    count = int(options["--count"]) if options.get("--count") else None
    try:
        client = connect(options.get("--socket"), options.get("--name", "sockbus.py " + command),
                         broker_uid=options.get("--broker-uid"), option_name="--broker-uid")
    except SockbusError as error:
        print("sockbus.py: %s" % escape_controls(error.message), file=sys.stderr)
        return 1
    done = threading.Event()
    seen = [0]

    def counted():
        seen[0] += 1
        if count is not None and seen[0] >= count:
            done.set()

    try:
        if command == "pub":
            client.publish(arguments[0], _json_value(arguments[1] if len(arguments) > 1 else None), retain=bool(options.get("--retain")))
            client.flush()
        elif command == "req":
            data, headers = client.request(arguments[0], _json_value(arguments[1] if len(arguments) > 1 else None), timeout=float(options.get("--timeout") or 5))
            print(json.dumps({"data": data, "headers": headers}, default=_json_default, separators=(",", ":")), flush=True)
        elif command in ("sub", "reply"):
            answer = _json_value(arguments[1] if len(arguments) > 1 else None)

            def on_message(message):
                print(_message_line(message), flush=True)
                if command == "reply" and message.is_request:
                    message.respond(answer)
                counted()

            client.subscribe(arguments[0], on_message, queue=options.get("--queue"))
            client.flush()
            print("sockbus.py: subscribed to %s" % arguments[0], file=sys.stderr, flush=True)
            client.on_reconnect = lambda: print("sockbus.py: reconnected", file=sys.stderr, flush=True)
            done.wait()
            client.flush()
        else:
            print(USAGE, end="", file=sys.stderr)
            return 2
    except SockbusError as error:
        print("sockbus.py: %s" % escape_controls(error.message), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
