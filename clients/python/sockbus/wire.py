"""The bytes on the socket (PROTOCOL.md sections 2 and 3): message kinds, msgpack, frames,
the checked decoding of broker frames and the encoding of what the client publishes and answers."""

import struct

import msgpack

from .errors import SockbusError
from .limits import limit
from .names import check_headers, check_topic, utf8_text

PROTOCOL_VERSION = 2

# Message kinds (section 3).
HELLO, WELCOME, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, MESSAGE = 1, 2, 3, 4, 5, 6
PING, PONG, ERROR, GOING_AWAY, DROPPED, STATS_REQUEST, STATS = 7, 8, 9, 10, 11, 12, 13
RESPOND, REPLY, SUBSCRIBED = 14, 15, 16


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


def pack(value):
    # Ext and msgpack.ExtType values pack back to their type and bytes (section 3.0).
    return msgpack.packb(value, use_bin_type=True)


def unpack(body):
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
def is_uint(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF


def _is_str(value):
    return isinstance(value, str)


def _is_map_or_nil(value):
    return value is None or isinstance(value, dict)


def _is_sender(value):
    return value is None or (isinstance(value, list) and len(value) >= 2 and is_uint(value[0]))


def _any(value):
    return True


_BROKER_SHAPES = {
    WELCOME: (dict,),
    MESSAGE: (_is_str, _any, _is_map_or_nil, _is_map_or_nil, _is_sender),
    PING: (is_uint,),
    PONG: (is_uint,),
    ERROR: (_is_str, _is_str, _is_map_or_nil),
    GOING_AWAY: (_is_str,),
    DROPPED: (is_uint,),
    STATS: (is_uint, dict),
    REPLY: (is_uint, _any, _is_map_or_nil, _is_map_or_nil, _is_sender),
    SUBSCRIBED: (is_uint,),
}


def decode_broker_message(body):
    """One broker frame body as a list [kind, ...], checked against section 3's shapes.

    Elements after the listed ones are cut off (section 3.0, extension room); a kind this
    client does not know comes back as it is, for the caller to ignore. Raises
    SockbusError MALFORMED_FRAME (not one msgpack value) or INVALID_MESSAGE (wrong shape).
    """
    try:
        message = unpack(body)
    except (ValueError, msgpack.exceptions.UnpackException) as error:
        raise SockbusError("MALFORMED_FRAME", "skipped a frame from the broker that could not be decoded: %s" % (error or type(error).__name__))
    if not isinstance(message, list) or not message or not is_uint(message[0]):
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


def sender_of(value):
    """[uid, pid] or [uid, pid, gateway] (section 3.7) as {"uid", "pid"} (and "via"); None when the broker does not say."""
    if not value:
        return None
    sender = {"uid": value[0], "pid": value[1]}
    if len(value) > 2 and isinstance(value[2], str):
        sender["via"] = value[2]
    return sender


def encode_publish(topic, data, headers=None, options=None, limits=None):
    """A publish body (section 3.3), or the SockbusError the broker would refuse it with, raised before anything is sent.

    Checked in the broker's order, so the first problem is the one it would report: the topic
    (INVALID_TOPIC), $SYS (RESERVED_TOPIC), the strings in data (INVALID_DATA), the headers
    (HEADERS_TOO_LARGE, INVALID_DATA); then the size (FRAME_TOO_LARGE).
    """
    check_topic(topic, limits)
    elements = [pack(PUBLISH), pack(utf8_text(topic)[0]), _pack_data(data, "the data")]
    check_headers(headers, limits)
    if headers or options:
        elements.append(pack(headers or None))
    if options:
        elements.append(pack(options))
    return _array_body(elements, "message", limits)


def encode_respond(reply_to, data, headers=None, error=None, limits=None):
    """A respond body (section 3.12); raises INVALID_DATA, HEADERS_TOO_LARGE or FRAME_TOO_LARGE as the broker would, in its order."""
    elements = [pack(RESPOND), pack(reply_to), _pack_data(data, "the answer")]
    check_headers(headers, limits)
    elements += [pack(headers or None), pack(error)]
    return _array_body(elements, "answer", limits)


def _pack_data(data, what):
    try:
        return pack(data)
    except UnicodeEncodeError as error:
        raise SockbusError("INVALID_DATA", "%s holds a str that is not valid UTF-8 (section 3.0): %s" % (what, error))


def _array_body(elements, what, limits):
    """A msgpack array (at most 15 elements: a fixarray) of already-packed elements, checked against maxFrameBytes."""
    body = bytes([0x90 | len(elements)]) + b"".join(elements)
    max_frame_bytes = limit(limits, "maxFrameBytes")
    if len(body) > max_frame_bytes:
        raise SockbusError("FRAME_TOO_LARGE", "%s of %d bytes exceeds the broker's limit of %d bytes" % (what, len(body), max_frame_bytes))
    return body
