"""A sockbus client for Python, written from PROTOCOL.md (version 2).

Standard library sockets and threads, plus msgpack (Debian: python3-msgpack).
Publish, subscribe with wildcards and queue groups, request/reply, retained
values, and reconnection: subscriptions are restored and what was published
while the broker was away is sent, from a bounded offline queue whose
overflow is counted and reported.

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
import select
import socket
import struct
import sys
import threading
import time

import msgpack

PROTOCOL_VERSION = 2
DEFAULT_PATH = "/tmp/sockbus.sock"
BROKER_UID_VARIABLE = "SOCKBUS_BROKER_UID"

# Message kinds (PROTOCOL.md section 3).
HELLO, WELCOME, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, MESSAGE = 1, 2, 3, 4, 5, 6
PING, PONG, ERROR, GOING_AWAY, DROPPED, STATS_REQUEST, STATS = 7, 8, 9, 10, 11, 12, 13
RESPOND, REPLY, SUBSCRIBED = 14, 15, 16

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

# Before the welcome says maxBrokerFrameBytes, no frame is trusted past this: a welcome is a few hundred bytes.
HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024

# What a version 2 welcome announces (section 3.2), used until one arrives and for keys it leaves out.
DEFAULT_LIMITS = {
    "maxFrameBytes": 1048576,
    "maxBrokerFrameBytes": 1048576 + 1024,
    "maxTopicBytes": 256,
    "maxPatternTokens": 16,
    "maxPatternWildcards": 3,
    "maxHeaderEntries": 64,
    "maxHeaderBytes": 16384,
}
MAX_QUEUE_NAME_BYTES = 64
MAX_HEADER_NAME_BYTES = 256

# Reconnecting (section 8): b = min(2000, 20 * 2^n) ms after the n-th failure in a row, a delay in [b/2, b).
INITIAL_RECONNECT_DELAY = 0.02
MAX_RECONNECT_DELAY = 2.0
SOCKET_POLL_INTERVAL = 0.025
# A new socket file is dialled after a delay in [0, 100) ms, so a restart's clients arrive spread out.
NEW_SOCKET_JITTER = 0.1
# A session shorter than this counts as a failed attempt: a broker that welcomes and then breaks is not redialled in a tight loop.
STABLE_SESSION_SECONDS = 1.0

DEFAULT_OFFLINE_QUEUE_MESSAGES = 10000
DEFAULT_OFFLINE_QUEUE_BYTES = 8 * 1024 * 1024


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


def socket_path(path=None):
    """The broker's socket: the argument, else $SOCKBUS_SOCKET, else /tmp/sockbus.sock (section 1)."""
    return path or os.environ.get("SOCKBUS_SOCKET") or DEFAULT_PATH


# -- topics, patterns and names (section 4) ------------------------------------

# Section 4.1's refused code points, exactly, so that every implementation agrees without a Unicode database.
REFUSED_CODE_POINTS = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x061C, 0x061C), (0x1680, 0x1680),
    (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x206F), (0x3000, 0x3000),
    (0x3164, 0x3164), (0xFFA0, 0xFFA0), (0xFEFF, 0xFEFF), (0xFFF0, 0xFFFF), (0xE0000, 0xE007F),
)
_REFUSED = re.compile("[%s]" % "".join("\\U%08x-\\U%08x" % span for span in REFUSED_CODE_POINTS))


def _text(value):
    """(str, UTF-8 bytes) for a str, or for bytes that are valid UTF-8 (RFC 3629); None otherwise.

    Python's strict codec refuses what section 3.0 refuses: surrogates, overlong forms, past U+10FFFF.
    """
    if isinstance(value, str):
        try:
            return value, value.encode("utf-8")
        except UnicodeEncodeError:
            return None  # a lone surrogate
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8"), bytes(value)
        except UnicodeDecodeError:
            return None
    return None


def _refused_character(text):
    match = _REFUSED.search(text)
    return None if match is None else "U+%04X" % ord(match.group())


def _name_problem(what, value, max_bytes, wildcards):
    decoded = _text(value)
    if decoded is None:
        return "invalid %s %r: not valid UTF-8 text" % (what, value)
    text, utf8 = decoded
    if not text:
        return 'invalid %s "": it is empty' % what
    if len(utf8) > max_bytes:
        return "invalid %s: %d bytes is longer than the limit of %d bytes" % (what, len(utf8), max_bytes)
    refused = _refused_character(text)
    if refused:
        return "invalid %s %s: it holds %s, a character that is invisible or looks like a space (section 4.1)" % (what, json.dumps(text), refused)
    tokens = text.split(".")
    for index, token in enumerate(tokens):
        if not token:
            return "invalid %s %s: empty token (two dots in a row, or a dot at either end)" % (what, json.dumps(text))
        if "*" not in token and ">" not in token:
            continue
        if not wildcards:
            return 'invalid %s %s: wildcard "%s" is not allowed in a publish topic' % (what, json.dumps(text), token)
        if token == ">" and index != len(tokens) - 1:
            return 'invalid %s %s: ">" must be the last token' % (what, json.dumps(text))
        if token not in ("*", ">"):
            return 'invalid %s %s: "%s": a wildcard must be a whole token' % (what, json.dumps(text), token)
    return None


def topic_problem(topic, max_topic_bytes=DEFAULT_LIMITS["maxTopicBytes"]):
    """Why a topic breaks section 4.2 (str, or bytes that must be UTF-8), or None."""
    return _name_problem("topic", topic, max_topic_bytes, False)


def pattern_problem(pattern, max_topic_bytes=DEFAULT_LIMITS["maxTopicBytes"]):
    """Why a pattern breaks section 4.2 (INVALID_PATTERN), or None; complexity is checked apart."""
    return _name_problem("pattern", pattern, max_topic_bytes, True)


def check_topic(topic, limits=None):
    """Raises what the broker would for a publish on this topic: INVALID_TOPIC, RESERVED_TOPIC."""
    problem = topic_problem(topic, _limit(limits, "maxTopicBytes"))
    if problem:
        raise SockbusError("INVALID_TOPIC", problem)
    text = _text(topic)[0]
    if text.split(".", 1)[0] == "$SYS":
        raise SockbusError("RESERVED_TOPIC", "topic %s is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them" % text)


def check_pattern(pattern, limits=None):
    """Raises INVALID_PATTERN or PATTERN_TOO_COMPLEX (sections 4.2 and 5) as the broker would."""
    problem = pattern_problem(pattern, _limit(limits, "maxTopicBytes"))
    if problem:
        raise SockbusError("INVALID_PATTERN", problem)
    tokens = _text(pattern)[0].split(".")
    max_tokens, max_wildcards = _limit(limits, "maxPatternTokens"), _limit(limits, "maxPatternWildcards")
    if len(tokens) > max_tokens:
        raise SockbusError("PATTERN_TOO_COMPLEX", "pattern has %d tokens; the limit is %d" % (len(tokens), max_tokens))
    wildcards = tokens.count("*")
    if wildcards > max_wildcards:
        raise SockbusError("PATTERN_TOO_COMPLEX", 'pattern has %d "*" wildcards; the limit is %d' % (wildcards, max_wildcards))


def queue_name_problem(name):
    """Why a queue group name breaks section 4.3 (1 to 64 bytes, no refused character), or None."""
    decoded = _text(name)
    if decoded is None:
        return "invalid queue group name %r: not valid UTF-8 text" % (name,)
    text, utf8 = decoded
    if not utf8 or len(utf8) > MAX_QUEUE_NAME_BYTES:
        return "invalid queue group name %s: it must be 1 to %d bytes, not %d" % (json.dumps(text), MAX_QUEUE_NAME_BYTES, len(utf8))
    refused = _refused_character(text)
    if refused:
        return "invalid queue group name %s: it holds %s, a character that is invisible or looks like a space (section 4.1)" % (json.dumps(text), refused)
    return None


def check_queue_name(name):
    problem = queue_name_problem(name)
    if problem:
        raise SockbusError("INVALID_QUEUE", problem)


def header_name_problem(name):
    """Why a header name breaks section 4.4 (1 to 256 bytes, no refused character, no ':'), or None."""
    decoded = _text(name)
    if decoded is None or not isinstance(name, (str, bytes, bytearray)):
        return "invalid header name %r: not valid UTF-8 text" % (name,)
    text, utf8 = decoded
    if not utf8 or len(utf8) > MAX_HEADER_NAME_BYTES:
        return "invalid header name %s: it must be 1 to %d bytes, not %d" % (json.dumps(text), MAX_HEADER_NAME_BYTES, len(utf8))
    refused = _refused_character(text)
    if refused:
        return "invalid header name %s: it holds %s, a character that is invisible or looks like a space (section 4.1)" % (json.dumps(text), refused)
    if ":" in text:
        return "invalid header name %s: it holds ':'" % json.dumps(text)
    return None


def check_headers(headers, limits=None):
    """Raises HEADERS_TOO_LARGE or INVALID_DATA for headers the broker would refuse (section 4.4)."""
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise SockbusError("INVALID_DATA", "headers must be a dict of str names to str values, not %s" % type(headers).__name__)
    # The broker's order: too many entries, then too many bytes, then the first entry that breaks section 4.4.
    max_entries, max_bytes = _limit(limits, "maxHeaderEntries"), _limit(limits, "maxHeaderBytes")
    if len(headers) > max_entries:
        raise SockbusError("HEADERS_TOO_LARGE", "headers have %d entries; the limit is %d" % (len(headers), max_entries))
    encoded = _encoded_size(headers)
    if encoded > max_bytes:
        raise SockbusError("HEADERS_TOO_LARGE", "headers take %d bytes encoded; the limit is %d" % (encoded, max_bytes))
    for name, value in headers.items():
        problem = header_name_problem(name) if isinstance(name, str) else "invalid header name %r: header names are str" % (name,)
        if problem:
            raise SockbusError("INVALID_DATA", problem)
        if not isinstance(value, str) or _text(value) is None:
            raise SockbusError("INVALID_DATA", "header %s: a header value must be a str of valid UTF-8" % json.dumps(name))


def _encoded_size(value):
    """Bytes value takes as msgpack; a str that is not valid UTF-8 counted as the bytes it escapes, else as 3 a surrogate."""
    for errors in ("strict", "surrogateescape", "surrogatepass"):
        try:
            return len(msgpack.packb(value, use_bin_type=True, unicode_errors=errors))
        except UnicodeEncodeError:
            continue
    raise SockbusError("INVALID_DATA", "the headers hold text that cannot be encoded")


def _limit(limits, key):
    value = (limits or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_LIMITS[key]


def pattern_matches(pattern, topic):
    """Section 4.2: '*' is one token, '>' one or more at the end; a leading wildcard skips '$' topics."""
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


# -- terminal output ---------------------------------------------------------------

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
        raise SockbusError(UNTRUSTED_BROKER, '%s "%s" names no user on this system' % (label, given))


# -- frames and messages (sections 2 and 3) ---------------------------------------

class Ext(msgpack.ExtType):
    """An extension type this client does not know (section 3.0): its type number and bytes.

    A msgpack.ExtType (so isinstance checks and equality hold) that also takes
    the negative types msgpack.ExtType refuses (-128 to -1): a broker forwards
    those too, and msgpack 1.0's ExtType made such a message undecodable.
    Publishing one packs the same type and bytes back.
    """

    __slots__ = ()

    def __new__(cls, code, data):
        if isinstance(code, bool) or not isinstance(code, int) or not -128 <= code <= 127:
            raise ValueError("an extension type is -128 to 127, not %r" % (code,))
        if not isinstance(data, bytes):
            raise TypeError("an extension's data is bytes, not %s" % type(data).__name__)
        return tuple.__new__(cls, (code, data))


def _pack(value):
    # Ext and msgpack.ExtType values pack back to their type and bytes (section 3.0).
    return msgpack.packb(value, use_bin_type=True)


def _unpack(body):
    # Unknown extension types come out as Ext(code, data) (type -1, a timestamp, as msgpack.Timestamp);
    # data maps may have non-str keys.
    return msgpack.unpackb(body, raw=False, strict_map_key=False, ext_hook=Ext)


def frame(body):
    """A frame: a big-endian uint32 length, then the body (section 2)."""
    return struct.pack(">I", len(body)) + body


class FrameDecoder:
    """Section 2, with no I/O: push() bytes as they arrive, next_body() hands out whole bodies.

    A length prefix over max_body_bytes fails before its body is buffered, so a
    broken broker cannot make the client hold more than the limit. The limit is
    read each time a prefix is, so raising it after the welcome applies to the
    frames behind it. Once failed, it stays failed.
    """

    def __init__(self, max_body_bytes):
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._failed = None

    def push(self, chunk):
        if self._failed:
            raise self._failed
        self._buffer += chunk

    def next_body(self):
        """The next whole body, or None until more bytes come; raises FRAME_TOO_LARGE or MALFORMED_FRAME."""
        if self._failed:
            raise self._failed
        if len(self._buffer) < 4:
            return None
        length = struct.unpack_from(">I", self._buffer)[0]
        if length == 0:
            self._failed = SockbusError("MALFORMED_FRAME", "bad frame from the broker: frame of length 0: a frame must hold one msgpack value")
        elif length > self.max_body_bytes:
            self._failed = SockbusError("FRAME_TOO_LARGE", "bad frame from the broker: a frame of %d bytes, more than the %d it may send (maxBrokerFrameBytes)" % (length, self.max_body_bytes))
        if self._failed:
            self._buffer = bytearray()
            raise self._failed
        if len(self._buffer) < 4 + length:
            return None
        body = bytes(self._buffer[4:4 + length])
        del self._buffer[:4 + length]
        return body


# The broker's frames and the fields each must have (section 3): (kind, fewest elements, checks by position).
def _is_uint(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF


def _is_str(value):
    return isinstance(value, str)


def _is_map_or_nil(value):
    return value is None or isinstance(value, dict)


def _is_sender(value):
    return value is None or (isinstance(value, list) and len(value) >= 2 and _is_uint(value[0]))


def _any(value):
    return True


_BROKER_SHAPES = {
    WELCOME: (dict,),
    MESSAGE: (_is_str, _any, _is_map_or_nil, _is_map_or_nil, _is_sender),
    PING: (_is_uint,),
    PONG: (_is_uint,),
    ERROR: (_is_str, _is_str, _is_map_or_nil),
    GOING_AWAY: (_is_str,),
    DROPPED: (_is_uint,),
    STATS: (_is_uint, dict),
    REPLY: (_is_uint, _any, _is_map_or_nil, _is_map_or_nil, _is_sender),
    SUBSCRIBED: (_is_uint,),
}


def decode_broker_message(body):
    """One broker frame body as a list [kind, ...], checked against section 3's shapes.

    Elements after the listed ones are cut off (section 3.0, extension room); a kind this
    client does not know comes back as it is, for the caller to ignore. Raises
    SockbusError MALFORMED_FRAME (not one msgpack value) or INVALID_MESSAGE (wrong shape).
    """
    try:
        message = _unpack(body)
    except (ValueError, msgpack.exceptions.UnpackException) as error:
        raise SockbusError("MALFORMED_FRAME", "skipped a frame from the broker that could not be decoded: %s" % (error or type(error).__name__))
    if not isinstance(message, list) or not message or not _is_uint(message[0]):
        raise SockbusError("INVALID_MESSAGE", "a frame from the broker is not an array starting with its kind: %r" % (message,))
    kind = message[0]
    shape = _BROKER_SHAPES.get(kind)
    if shape is None:
        return message
    problem = None
    if len(message) < 1 + len(shape):
        problem = "a frame of kind %d from the broker has %d elements, not %d" % (kind, len(message), 1 + len(shape))
    else:
        for position, check in enumerate(shape, 1):
            valid = isinstance(message[position], check) if isinstance(check, type) else check(message[position])
            if not valid:
                problem = "a frame of kind %d from the broker has %r as element %d" % (kind, message[position], position)
                break
    if problem:
        error = SockbusError("INVALID_MESSAGE", problem)
        error.kind = kind
        raise error
    return message[:1 + len(shape)]


def encode_publish(topic, data, headers=None, options=None, limits=None):
    """A publish body (section 3.3), or the SockbusError the broker would refuse it with, raised before anything is sent.

    Checked in the broker's order, so the first problem is the one it would report: the topic
    (INVALID_TOPIC), $SYS (RESERVED_TOPIC), the strings in data (INVALID_DATA), the headers
    (HEADERS_TOO_LARGE, INVALID_DATA); then the size (FRAME_TOO_LARGE).
    """
    check_topic(topic, limits)
    elements = [_pack(PUBLISH), _pack(_text(topic)[0]), _pack_data(data, "the data")]
    check_headers(headers, limits)
    if headers or options:
        elements.append(_pack(headers or None))
    if options:
        elements.append(_pack(options))
    return _array_body(elements, "message", limits)


def encode_respond(reply_to, data, headers=None, error=None, limits=None):
    """A respond body (section 3.12); raises INVALID_DATA, HEADERS_TOO_LARGE or FRAME_TOO_LARGE as the broker would, in its order."""
    elements = [_pack(RESPOND), _pack(reply_to), _pack_data(data, "the answer")]
    check_headers(headers, limits)
    elements += [_pack(headers or None), _pack(error)]
    return _array_body(elements, "answer", limits)


def _pack_data(data, what):
    try:
        return _pack(data)
    except UnicodeEncodeError as error:
        raise SockbusError("INVALID_DATA", "%s holds a str that is not valid UTF-8 (section 3.0): %s" % (what, error))


def _array_body(elements, what, limits):
    """A msgpack array (at most 15 elements: a fixarray) of already-packed elements, checked against maxFrameBytes."""
    body = bytes([0x90 | len(elements)]) + b"".join(elements)
    max_frame_bytes = _limit(limits, "maxFrameBytes")
    if len(body) > max_frame_bytes:
        raise SockbusError("FRAME_TOO_LARGE", "%s of %d bytes exceeds the broker's limit of %d bytes" % (what, len(body), max_frame_bytes))
    return body


def _sender(value):
    """[uid, pid] or [uid, pid, gateway] (section 3.7) as {"uid", "pid"} (and "via"); None when the broker does not say."""
    if not value:
        return None
    sender = {"uid": value[0], "pid": value[1]}
    if len(value) > 2 and isinstance(value[2], str):
        sender["via"] = value[2]
    return sender


# -- what the application sees ----------------------------------------------------------

class Message:
    """A delivered message. When it is a request (is_request), answer it with respond()."""

    def __init__(self, client, session, topic, data, headers, info, sender):
        self.topic = topic
        self.data = data
        self.headers = headers or {}
        info = info or {}
        self.retained = bool(info.get("retained"))
        # The one subscription the broker addressed it to (queue group share, retained replay, request), or None.
        self.subscription_id = info.get("sub")
        # {"uid", "pid"} as the kernel told the broker; None when the broker cannot tell (welcome senders: false).
        self.sender = _sender(sender)
        self._reply_to = info.get("reply")
        self._client = client
        self._session = session

    @property
    def is_request(self):
        return self._reply_to is not None

    def respond(self, data, headers=None):
        self._client._respond(self._session, self._checked_reply_to(), data, headers, None)

    def respond_error(self, message, code=None, headers=None):
        """Fails the request; without a code the broker gives the requester REQUEST_FAILED (section 3.12)."""
        error = {"message": message} if code is None else {"code": code, "message": message}
        self._client._respond(self._session, self._checked_reply_to(), None, headers, error)

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
        reply.sender = _sender(sender)
        return reply

    @property
    def data(self):
        return self[0]

    @property
    def headers(self):
        return self[1]


class Subscription:
    """A pattern and its callback. state: "pending" until the broker's subscribed frame (section 3.4),
    then "active"; "ended" once unsubscribed or refused (error then says why)."""

    def __init__(self, client, subscription_id, pattern, callback, queue):
        self.id = subscription_id
        self.pattern = pattern
        self.callback = callback
        self.queue = queue
        self.state = "pending"
        self.error = None
        self._client = client

    @property
    def active(self):
        return self.state == "active"

    def unsubscribe(self):
        self._client.unsubscribe(self)

    def _subscribe_frame(self):
        if self.queue is None:
            return frame(_pack([SUBSCRIBE, self.id, self.pattern]))
        return frame(_pack([SUBSCRIBE, self.id, self.pattern, {"queue": self.queue}]))


class OfflineQueue:
    """Publishes waiting for a connection, oldest first, bounded in count and bytes.

    When full, the oldest give way to the newest and are counted (as the
    TypeScript client's client/offline-queue.ts does).
    """

    def __init__(self, max_messages, max_bytes):
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._frames = []
        self._head = 0
        self.bytes = 0

    def __len__(self):
        return len(self._frames) - self._head

    def push(self, item):
        """Adds a frame; returns how many were dropped to make room (1 for a frame that can never fit)."""
        dropped = 0
        while len(self) > 0 and (len(self) + 1 > self.max_messages or self.bytes + len(item) > self.max_bytes):
            self._shift()
            dropped += 1
        if len(item) > self.max_bytes or self.max_messages == 0:
            return dropped + 1
        self._frames.append(item)
        self.bytes += len(item)
        return dropped

    def drain(self):
        """Removes and returns everything, oldest first."""
        frames = self._frames[self._head:]
        self._frames, self._head, self.bytes = [], 0, 0
        return frames

    def _shift(self):
        oldest = self._frames[self._head]
        self._frames[self._head] = None
        self._head += 1
        self.bytes -= len(oldest)
        # Compact now and then so the list does not grow with every drop.
        if self._head > 1024 and self._head * 2 > len(self._frames):
            self._frames = self._frames[self._head:]
            self._head = 0


def reconnect_delay(attempt, rand=random.random):
    """Seconds to wait after the attempt-th failure in a row (from 0): uniform in [b/2, b), b = min(2 s, 20 ms * 2^n) (section 8)."""
    bound = min(MAX_RECONNECT_DELAY, INITIAL_RECONNECT_DELAY * 2 ** min(attempt, 30))
    return bound / 2 + rand() * bound / 2


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
            if _is_uint(welcome.get(key)):
                self.limits[key] = welcome[key]
        if not _is_uint(welcome.get("maxBrokerFrameBytes")):
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
            self._write(session, [(subscription._subscribe_frame(), False)])
        return subscription

    def unsubscribe(self, subscription):
        with self._state_lock:
            if self._subscriptions.pop(subscription.id, None) is None:
                return
            subscription.state = "ended"
            session = self._usable_session()
        if session:
            self._write(session, [(frame(_pack([UNSUBSCRIBE, subscription.id])), False)])

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
            self._write(session, [(frame(_pack([GOING_AWAY, "the client was closed"])), False)])
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
        sent, error = _send_counting(session.socket, frame(_pack([PING, token])))
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
                error = _send_counting(session.socket, frame(_pack([kind, token])))[1] if session.usable else None
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
                sock.sendall(frame(_pack([HELLO, hello])))
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
                frames = [(subscription._subscribe_frame(), False) for subscription in self._subscriptions.values()]
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
                    error = _send_counting(session.socket, frame(_pack([PONG, message[1]])))[1]
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
            failure.sender = _sender(sender)
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
        if about is not None and _is_uint(about.get("sub")):
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
    if isinstance(value, msgpack.ExtType):
        import base64
        return {"$ext": [value.code, base64.b64encode(value.data).decode("ascii")]}
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
