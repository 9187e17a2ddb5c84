#!/usr/bin/python3
"""Writes the conformance vectors (frames.json, topics.json, matching.json).

The cases are written here as values, readable; the JSON files are what the
broker's, the TypeScript client's and the Python client's tests read, so
that the three agree by construction. Run it after changing a case:
    /usr/bin/python3 protocol/vectors/generate.py
"""
import json
import os

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_UINT = 2**32 - 1


def body(value):
    return msgpack.packb(value, use_bin_type=True)


def frame_of(raw):
    return len(raw).to_bytes(4, "big") + raw


def frame(value):
    return frame_of(body(value)).hex()


def raw_frame(hex_body):
    return frame_of(bytes.fromhex(hex_body)).hex()


def error(code, message, about=None, closes=False):
    return {"error": {"code": code, "message": message, "about": about}, "closes": closes}


def fatal(code, message, about=None):
    return error(code, message, about, closes=True)


def answers(*values):
    return {"answers": [frame(value) for value in values]}


NOTHING = {"answers": []}


def case(name, frames, expect, hello=True):
    return {"name": name, "hello": hello, "frames": frames, "expect": expect}


def reply_error(request_id, code, message):
    return [15, request_id, None, None, {"code": code, "message": message}, None]


TOO_LONG_NAME = "n" * 257
HEADERS_65 = {f"h{index}": "v" for index in range(65)}
HEADERS_BIG = {"big": "x" * 16400}

client = [
    # Frames the broker cannot read: it closes the connection.
    case("a length above maxFrameBytes", [(1048577).to_bytes(4, "big").hex()], fatal("FRAME_TOO_LARGE", "frame of 1048577 bytes exceeds the limit of 1048576 bytes")),
    case("a length of 2^32-1", ["ffffffff"], fatal("FRAME_TOO_LARGE", "frame of 4294967295 bytes exceeds the limit of 1048576 bytes")),
    case("a length of 0", ["00000000"], fatal("MALFORMED_FRAME", "frame of length 0: a frame must hold one msgpack value")),
    case("a byte that is not msgpack", [raw_frame("9303a161c1")], fatal("MALFORMED_FRAME", "byte 0xc1 at 4 is not valid msgpack", {"kind": 3})),
    case("bytes after the value", [raw_frame("920701c0")], fatal("MALFORMED_FRAME", "bytes after the end of the msgpack value: a frame holds exactly one value", {"kind": 7})),
    case("a value that ends early", [raw_frame("9303a161")], fatal("MALFORMED_FRAME", "msgpack value ends before its declared length", {"kind": 3})),
    case("not an array", [frame({"publish": "a.b"})], fatal("INVALID_MESSAGE", "expected an array at byte 0")),
    case("an empty array", [frame([])], fatal("INVALID_MESSAGE", "a message is an array whose first element is its kind")),
    case("an unknown kind", [frame([42, "x"])], fatal("UNKNOWN_MESSAGE_KIND", "unknown message kind 42 from a client", {"kind": 42})),
    case("kind 0", [frame([0])], fatal("UNKNOWN_MESSAGE_KIND", "unknown message kind 0 from a client", {"kind": 0})),
    case("a negative kind", [frame([-3, "a", 1])], fatal("UNKNOWN_MESSAGE_KIND", "unknown message kind -3 from a client", {"kind": -3})),
    case("a kind only brokers send", [frame([6, "a", 1, None, None, None])], fatal("UNKNOWN_MESSAGE_KIND", "message (kind 6) is sent only by brokers from a client", {"kind": 6})),
    case("a kind as a float", [raw_frame("93cb4008000000000000a16101")], fatal("INVALID_MESSAGE", "expected an integer (the kind) at byte 1")),
    case("anything before hello", [frame([3, "a.b", 1])], fatal("HANDSHAKE_REQUIRED", "the first message on a connection must be hello", {"kind": 3}), hello=False),
    case("hello with version 1", [frame([1, {"version": 1}])], fatal("UNSUPPORTED_VERSION", "protocol version 1 is not supported; this broker speaks version 2", {"kind": 1}), hello=False),
    case("hello with version 7", [frame([1, {"version": 7}])], fatal("UNSUPPORTED_VERSION", "protocol version 7 is not supported; this broker speaks version 2", {"kind": 1}), hello=False),
    case("a second hello", [frame([1, {"version": 2}])], fatal("INVALID_MESSAGE", "hello was already received on this connection", {"kind": 1})),
    case("hello: options not a map", [frame([1, "v2"])], fatal("INVALID_MESSAGE", "expected hello options (a map, or nil) at byte 2", {"kind": 1}), hello=False),
    case("hello: options nil", [frame([1, None])], fatal("INVALID_MESSAGE", "hello: element 1 must be a map", {"kind": 1}), hello=False),
    case("hello: version a string", [frame([1, {"version": "2"}])], fatal("INVALID_MESSAGE", "hello: \"version\" must be an integer (this broker speaks version 2)", {"kind": 1}), hello=False),
    case("hello: version a float", [frame([1, {"version": 2.0}])], fatal("INVALID_MESSAGE", "hello: \"version\" must be an integer (this broker speaks version 2)", {"kind": 1}), hello=False),
    case("hello: name longer than 256 bytes", [frame([1, {"version": 2, "name": TOO_LONG_NAME}])], fatal("INVALID_MESSAGE", "hello: \"name\" is 257 bytes, longer than the limit of 256 bytes", {"kind": 1}), hello=False),
    case("hello: name not UTF-8", [raw_frame("9201" + "82a776657273696f6e02a46e616d65a2c328")], fatal("INVALID_MESSAGE", "invalid hello options: \"name\": not valid UTF-8", {"kind": 1}), hello=False),
    case("hello: noEcho not a bool", [frame([1, {"version": 2, "noEcho": 1}])], fatal("INVALID_MESSAGE", "hello: \"noEcho\" must be a boolean (got 1)", {"kind": 1}), hello=False),
    case("publish: topic a number", [frame([3, 7, 1])], fatal("INVALID_MESSAGE", "expected a string (topic) at byte 2", {"kind": 3})),
    case("publish: no data", [frame([3, "a"])], fatal("INVALID_MESSAGE", "publish: expected [3, topic, data] or [3, topic, data, headers]", {"kind": 3})),
    case("publish: headers an array", [frame([3, "a", 1, ["h"]])], fatal("INVALID_MESSAGE", "expected publish headers (a map of strings, or nil) at byte 5", {"kind": 3})),
    case("publish: options not a map", [frame([3, "a", 1, None, [1]])], fatal("INVALID_MESSAGE", "expected publish options (a map, or nil) at byte 6", {"kind": 3})),
    case("publish: request negative", [frame([3, "a", 1, None, {"request": -1}])], fatal("INVALID_MESSAGE", "publish: \"request\" must be an integer from 0 to 4294967295 (got -1)", {"kind": 3})),
    case("publish: request 2^32", [frame([3, "a", 1, None, {"request": MAX_UINT + 1}])], fatal("INVALID_MESSAGE", "publish: \"request\" must be an integer from 0 to 4294967295 (got 4294967296)", {"kind": 3})),
    case("publish: request a float", [frame([3, "a", 1, None, {"request": 1.0}])], fatal("INVALID_MESSAGE", "publish: \"request\" must be an integer from 0 to 4294967295 (a float is not an integer)", {"kind": 3})),
    case("publish: retain not a bool", [frame([3, "a", 1, None, {"retain": "yes"}])], fatal("INVALID_MESSAGE", "publish: \"retain\" must be a boolean (got \"yes\")", {"kind": 3})),
    case("subscribe: id a string", [frame([4, "one", "a"])], fatal("INVALID_MESSAGE", "expected an integer (the subscription id) at byte 2", {"kind": 4})),
    case("subscribe: id 2^32", [frame([4, MAX_UINT + 1, "a"])], fatal("INVALID_MESSAGE", "the subscription id is 4294967296 at byte 2: it must be an integer from 0 to 4294967295", {"kind": 4})),
    case("subscribe: id a float", [frame([4, 1.0, "a"])], fatal("INVALID_MESSAGE", "expected an integer (the subscription id) at byte 2", {"kind": 4})),
    case("subscribe: pattern missing", [frame([4, 1])], fatal("INVALID_MESSAGE", "subscribe: expected [4, id, pattern]", {"kind": 4})),
    case("subscribe: pattern a number", [frame([4, 1, 5])], fatal("INVALID_MESSAGE", "expected a string (pattern) at byte 3", {"kind": 4})),
    case("subscribe: queue a number", [frame([4, 1, "a", {"queue": 5}])], fatal("INVALID_MESSAGE", "subscribe: \"queue\" must be a string (got 5)", {"kind": 4})),
    case("unsubscribe: id negative", [frame([5, -1])], fatal("INVALID_MESSAGE", "the subscription id is -1 at byte 2: it must be an integer from 0 to 4294967295", {"kind": 5})),
    case("ping: token a map", [frame([7, {}])], fatal("INVALID_MESSAGE", "expected an integer (the ping token) at byte 2", {"kind": 7})),
    case("ping: token 2^32", [frame([7, MAX_UINT + 1])], fatal("INVALID_MESSAGE", "the ping token is 4294967296 at byte 2: it must be an integer from 0 to 4294967295", {"kind": 7})),
    case("pong: no token", [frame([8])], fatal("INVALID_MESSAGE", "pong: expected [8, token]", {"kind": 8})),
    case("stats-request: token a float", [frame([12, 1.5])], fatal("INVALID_MESSAGE", "expected an integer (the stats-request token) at byte 2", {"kind": 12})),
    case("going-away: reason a number", [frame([10, 5])], fatal("INVALID_MESSAGE", "expected a string (going-away reason) at byte 2", {"kind": 10})),
    case("respond: address a number", [frame([14, 5, 1])], fatal("INVALID_MESSAGE", "expected a string (reply address) at byte 2", {"kind": 14})),
    case("respond: error not a map", [frame([14, "AAAAAAAAAAAAAAAA", None, None, "failed"])], fatal("INVALID_MESSAGE", "expected respond error (a map, or nil) at byte 21", {"kind": 14})),
    case("respond: error code a number", [frame([14, "AAAAAAAAAAAAAAAA", None, None, {"code": 5}])], fatal("INVALID_MESSAGE", "respond error: \"code\" must be a string (got 5)", {"kind": 14})),
    case("a trailing element that is not UTF-8", [raw_frame("930701a2c328")], fatal("INVALID_MESSAGE", "a string that is not valid UTF-8 at byte 4", {"kind": 7})),
    # Frames that are refused or answered: the connection stays usable.
    case("a ping's token in uint64 is echoed in the shortest form", [raw_frame("9207cf0000000000000005")], answers([8, 5])),
    case("a ping's token in int8 is echoed", [raw_frame("9207d005")], answers([8, 5])),
    case("a ping's largest token", [frame([7, MAX_UINT])], answers([8, MAX_UINT])),
    case("a kind in uint16 is read", [raw_frame("92cd000703")], answers([8, 3])),
    case("elements after the known ones are ignored", [frame([7, 4, "later", {"x": 1}])], answers([8, 4])),
    case("a subscribe is acknowledged", [frame([4, 1, "app.*"])], answers([16, 1])),
    case("a subscribe with unknown option keys", [frame([4, 2, "app.>", {"future": [1, 2]}])], answers([16, 2])),
    case("an unsubscribe of an unknown id is ignored", [frame([5, 77])], NOTHING),
    case("a duplicate subscription id: the first stays", [frame([4, 5, "a"]), frame([4, 5, "b"])],
         answers([16, 5], [9, "SUBSCRIPTION_ID_IN_USE", "subscription id 5 is already in use on this connection; that subscription stays as it was", {"kind": 4, "inUse": 5}])),
    case("an invalid pattern", [frame([4, 3, "a.>.b"])], answers([9, "INVALID_PATTERN", "invalid pattern \"a.>.b\": \">\" must be the last token", {"kind": 4, "sub": 3}])),
    case("a wildcard inside a token", [frame([4, 3, "app.ed*"])], answers([9, "INVALID_PATTERN", "invalid pattern \"app.ed*\": \"ed*\": a wildcard must be a whole token", {"kind": 4, "sub": 3}])),
    case("a pattern with a space", [frame([4, 3, "a b"])], answers([9, "INVALID_PATTERN", "invalid pattern \"a b\": U+0020 is not allowed (no controls, spaces or invisible characters)", {"kind": 4, "sub": 3}])),
    case("a pattern with a zero-width space", [frame([4, 3, "a\u200bb"])], answers([9, "INVALID_PATTERN", "invalid pattern \"a\u200bb\": U+200B is not allowed (no controls, spaces or invisible characters)", {"kind": 4, "sub": 3}])),
    case("a pattern that is not UTF-8", [raw_frame("930403a2c328")], answers([9, "INVALID_PATTERN", "invalid pattern: not valid UTF-8", {"kind": 4, "sub": 3}])),
    case("a pattern of 17 tokens", [frame([4, 3, ".".join(["t"] * 17)])], answers([9, "PATTERN_TOO_COMPLEX", "pattern " + ".".join(["t"] * 17) + " has 17 tokens, more than the 16 the broker allows (--max-pattern-tokens)", {"kind": 4, "sub": 3}])),
    case("a pattern with 4 * wildcards", [frame([4, 3, "*.*.*.*"])], answers([9, "PATTERN_TOO_COMPLEX", "pattern *.*.*.* has 4 * wildcards, more than the 3 the broker allows (--max-pattern-wildcards)", {"kind": 4, "sub": 3}])),
    case("an empty queue group name", [frame([4, 3, "jobs", {"queue": ""}])], answers([9, "INVALID_QUEUE", "invalid queue group name \"\": it is empty", {"kind": 4, "sub": 3}])),
    case("a queue group name with a space", [frame([4, 3, "jobs", {"queue": "two words"}])], answers([9, "INVALID_QUEUE", "invalid queue group name \"two words\": U+0020 is not allowed (no controls, spaces or invisible characters)", {"kind": 4, "sub": 3}])),
    case("a queue group name of 65 bytes", [frame([4, 3, "jobs", {"queue": "q" * 65}])], answers([9, "INVALID_QUEUE", "invalid queue group name: 65 bytes is longer than the limit of 64 bytes", {"kind": 4, "sub": 3}])),
    case("a publish on an invalid topic", [frame([3, "a..b", 1])], answers([9, "INVALID_TOPIC", "invalid topic \"a..b\": empty token (two dots in a row, or a dot at either end)", {"kind": 3, "topic": "a..b"}])),
    case("a wildcard in a publish topic", [frame([3, "a.>", 1])], answers([9, "INVALID_TOPIC", "invalid topic \"a.>\": wildcard \">\" is not allowed in a publish topic", {"kind": 3, "topic": "a.>"}])),
    case("a topic with a no-break space", [frame([3, "a\u00a0b", 1])], answers([9, "INVALID_TOPIC", "invalid topic \"a\u00a0b\": U+00A0 is not allowed (no controls, spaces or invisible characters)", {"kind": 3, "topic": "a\u00a0b"}])),
    case("a topic with a byte order mark", [frame([3, "\ufeffa", 1])], answers([9, "INVALID_TOPIC", "invalid topic \"\ufeffa\": U+FEFF is not allowed (no controls, spaces or invisible characters)", {"kind": 3, "topic": "\ufeffa"}])),
    case("a topic with a right-to-left override", [frame([3, "a\u202eb", 1])], answers([9, "INVALID_TOPIC", "invalid topic \"a\u202eb\": U+202E is not allowed (no controls, spaces or invisible characters)", {"kind": 3, "topic": "a\u202eb"}])),
    case("a topic of 257 bytes", [frame([3, "x" * 257, 1])], answers([9, "INVALID_TOPIC", "invalid topic: 257 bytes is longer than the limit of 256 bytes", {"kind": 3, "topic": "x" * 257}])),
    case("a topic that is not UTF-8", [raw_frame("9303a2c32801")], answers([9, "INVALID_TOPIC", "invalid topic: not valid UTF-8", {"kind": 3}])),
    case("a publish on $SYS.", [frame([3, "$SYS.x", 1])], answers([9, "RESERVED_TOPIC", "topic $SYS.x is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them", {"kind": 3, "topic": "$SYS.x"}])),
    case("data with a string that is not UTF-8", [raw_frame("9303a3612e62" + "91a2c328")], answers([9, "INVALID_DATA", "publish data holds a string that is not valid UTF-8 (at byte 8); bytes that are not text belong in bin", {"kind": 3, "topic": "a.b"}])),
    case("data with a map key that is not UTF-8, deep inside", [raw_frame("9303a3612e62" + "81a1619181a2c32801")], answers([9, "INVALID_DATA", "publish data holds a string that is not valid UTF-8 (at byte 12); bytes that are not text belong in bin", {"kind": 3, "topic": "a.b"}])),
    case("a header value that is not UTF-8", [raw_frame("9403a3612e6201" + "81a168a2c328")], answers([9, "INVALID_DATA", "publish headers: the value of header \"h\" is not valid UTF-8", {"kind": 3, "topic": "a.b"}])),
    case("a header name with a colon", [frame([3, "a.b", 1, {"a:b": "v"}])], answers([9, "INVALID_DATA", "invalid header name \"a:b\": \":\" is not allowed (no colon, controls, spaces or invisible characters)", {"kind": 3, "topic": "a.b"}])),
    case("a header value that is a number", [frame([3, "a.b", 1, {"n": 5}])], answers([9, "INVALID_DATA", "publish headers: the value of header \"n\" is not a string", {"kind": 3, "topic": "a.b"}])),
    case("a header name given twice", [raw_frame("9403a3612e6201" + "82a168a161a168a162")], answers([9, "INVALID_DATA", "publish headers: header \"h\" appears twice", {"kind": 3, "topic": "a.b"}])),
    case("65 headers", [frame([3, "a.b", 1, HEADERS_65])], answers([9, "HEADERS_TOO_LARGE", "publish headers: 65 entries, more than the 64 a message may carry", {"kind": 3, "topic": "a.b"}])),
    case("headers of more than 16,384 bytes", [frame([3, "a.b", 1, HEADERS_BIG])], answers([9, "HEADERS_TOO_LARGE", "publish headers: 16408 bytes, more than the 16384 a message's headers may take", {"kind": 3, "topic": "a.b"}])),
    case("a request with no responders", [frame([3, "nobody.home", None, None, {"request": 6}])], answers(reply_error(6, "NO_RESPONDERS", "no responders: nothing subscribes to nobody.home"))),
    case("a request on $SYS. gets a reply, not an error", [frame([3, "$SYS.x", None, None, {"request": 7}])], answers(reply_error(7, "RESERVED_TOPIC", "topic $SYS.x is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them"))),
    case("a request on an invalid topic gets a reply", [frame([3, "a..b", None, None, {"request": 8}])], answers(reply_error(8, "INVALID_TOPIC", "invalid topic \"a..b\": empty token (two dots in a row, or a dot at either end)"))),
    case("a request with data that is not UTF-8 gets a reply", [raw_frame("9503a3612e62" + "a2c328" + "c0" + "81a772657175657374" + "09")], answers(reply_error(9, "INVALID_DATA", "publish data holds a string that is not valid UTF-8 (at byte 7); bytes that are not text belong in bin"))),
    case("a retained request", [frame([3, "a.b", 1, None, {"request": 10, "retain": True}])], answers(reply_error(10, "INVALID_OPTIONS", "a publish cannot be both a request and retained (on a.b)"))),
    case("a respond to an address the broker never gives out", [frame([14, "nope", 1])], answers([9, "INVALID_REPLY_ADDRESS", "respond: \"nope\" is not a reply address this broker gives out (16 base64url characters)", {"kind": 14, "reply": "nope"}])),
    case("a respond to a well-formed address nobody made is discarded", [frame([14, "AAAAAAAAAAAAAAAA", 1])], NOTHING),
    case("a respond with headers that are too many", [frame([14, "AAAAAAAAAAAAAAAA", 1, HEADERS_65])], answers([9, "HEADERS_TOO_LARGE", "respond headers: 65 entries, more than the 64 a message may carry", {"kind": 14, "reply": "AAAAAAAAAAAAAAAA"}])),
    case("a goodbye", [frame([10, "done"])], NOTHING),
]


def value_json(value):
    """A msgpack value as JSON: bin as {"$bin": hex}, ext as {"$ext": [type, hex]}."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, msgpack.ExtType):
        return {"$ext": [value.code, value.data.hex()]}
    if isinstance(value, list):
        return [value_json(item) for item in value]
    if isinstance(value, dict):
        return {key: value_json(item) for key, item in value.items()}
    return value


def broker_case(name, value, note=None):
    entry = {"name": name, "hex": frame(value), "value": value_json(value)}
    if note:
        entry["note"] = note
    return entry


WELCOME = [2, {"version": 2, "connectionId": 1, "server": "sockbusd 0.2.0", "senders": True, "maxFrameBytes": 1048576,
               "maxBrokerFrameBytes": 1049600, "maxTopicBytes": 256, "maxPatternTokens": 16, "maxPatternWildcards": 3,
               "maxHeaderEntries": 64, "maxHeaderBytes": 16384, "maxSubscriptions": 10000, "maxRequests": 10000,
               "maxPendingBytes": 8388608, "keepaliveMs": 30000}]

broker = [
    broker_case("welcome", WELCOME),
    broker_case("subscribed", [16, 1]),
    broker_case("a message with its sender", [6, "app.saved", {"n": 1}, None, None, [1000, 4242]]),
    broker_case("a message with headers", [6, "app.saved", "x", {"k": "v"}, None, [1000, 4242]]),
    broker_case("a message from a broker without credentials", [6, "app.saved", 1, None, None, None]),
    broker_case("a message from the NATS bridge", [6, "from.nats", "x", None, None, [0, 77, "bridge"]]),
    broker_case("a request for subscription 1", [6, "time.now", None, None, {"reply": "q3Zr0F8mTbW2xYk9", "sub": 1}, [1000, 4242]]),
    broker_case("a retained replay", [6, "ui.theme", "dark", None, {"retained": True, "sub": 2}, [1000, 4242]]),
    broker_case("a queue group share", [6, "jobs", 1, None, {"sub": 3}, [1000, 4242]]),
    broker_case("data of every msgpack type", [6, "t", [None, True, False, 0, -1, 127, -32, 255, 65535, MAX_UINT, 2**53 - 1, -(2**31), 1.5, "", "é", b"\x00\x01", [], {}, {"nested": [1, {"deep": "x"}]}], None, None, [1, 2]]),
    broker_case("data with an extension type", [6, "t", msgpack.ExtType(5, b"\x01\x02\x03"), None, None, [1, 2]], "an extension the client does not know: handed to the application as type and bytes"),
    broker_case("data with a fixext 1 of type 114", [6, "t", msgpack.ExtType(114, b"\x01"), None, None, [1, 2]], "type 114 (0x72) in a fixext 1: some libraries give it a meaning of their own; here it is only an extension"),
    # Negative types other than -1 are reserved by msgpack, and some libraries cannot build them: written by hand.
    {"name": "data with a negative extension type", "hex": frame_of(bytes.fromhex("9606a174" + "c714fb" + "09" * 20 + "c0c0920102")).hex(),
     "value": [6, "t", {"$ext": [-5, "09" * 20]}, None, None, [1, 2]]},
    broker_case("a reply", [15, 5, 12, None, None, [1000, 4243]]),
    broker_case("a reply with headers", [15, 5, "ok", {"h": "v"}, None, [1000, 4243]]),
    broker_case("a broker's own error reply", reply_error(6, "NO_RESPONDERS", "no responders: nothing subscribes to x")),
    broker_case("a responder's error reply", [15, 5, None, None, {"code": "REQUEST_FAILED", "message": "disk full"}, [1000, 4243]]),
    broker_case("an error about a subscription", [9, "INVALID_PATTERN", "bad", {"kind": 4, "sub": 1}]),
    broker_case("an error about a publish", [9, "RESERVED_TOPIC", "no", {"kind": 3, "topic": "$SYS.x"}]),
    broker_case("a subscription ended by a policy reload", [9, "ACCESS_DENIED", "ended", {"sub": 4}]),
    broker_case("a duplicate subscription id", [9, "SUBSCRIPTION_ID_IN_USE", "in use", {"kind": 4, "inUse": 5}]),
    broker_case("a closing error", [9, "TIMEOUT", "no hello within 5000 ms of connecting", None]),
    broker_case("dropped", [11, 300]),
    broker_case("going-away", [10, "shutting down"]),
    broker_case("ping from the broker", [7, 0]),
    broker_case("pong", [8, 9]),
    broker_case("stats", [13, 2, {"connections": 1, "future": {"x": [1]}}]),
    broker_case("a kind from a later version is ignored", [99, "later"], "a client ignores it and goes on"),
]

with open(os.path.join(HERE, "frames.json"), "w", encoding="utf-8") as out:
    json.dump({
        "about": "Frames a client sends, each on a fresh connection after a valid hello (unless hello is false), and what the broker answers before the pong of a ping sent after them (answers, as whole frames in hex) or the error it closes with. Then frames a broker sends, with the value each holds: nil as null, bin as {\"$bin\": hex}, ext as {\"$ext\": [type, hex]}. See PROTOCOL.md.",
        "client": client,
        "broker": broker,
    }, out, indent=1, ensure_ascii=False)
    out.write("\n")

REFUSED_SAMPLES = [0x00, 0x09, 0x0A, 0x1F, 0x20, 0x7F, 0x85, 0x9F, 0xA0, 0xAD, 0x61C, 0x1680, 0x180E, 0x2000, 0x200B, 0x200D, 0x200F,
                   0x2028, 0x202E, 0x202F, 0x205F, 0x2060, 0x2066, 0x206F, 0x3000, 0x3164, 0xFFA0, 0xFEFF, 0xFFF0, 0xFFFD, 0xFFFF, 0xE0001, 0xE007F]
ALLOWED_SAMPLES = [0x21, 0x7E, 0xA1, 0xAE, 0x61B, 0x61D, 0x167F, 0x1681, 0x180D, 0x180F, 0x1FFF, 0x2010, 0x2027, 0x2030, 0x205E, 0x2070,
                   0x2FFF, 0x3001, 0x3163, 0x3165, 0xFE0F, 0xFEFE, 0xFF9F, 0xFFA1, 0xFFEF, 0x1F4E6, 0xDFFFF, 0xE0080, 0x10FFFF]


def named(text, valid, code):
    entry = {"value": text, "valid": valid}
    if not valid:
        entry["code"] = code
    return entry


def topic_cases(code, wildcards):
    cases = [named(text, True, code) for text in ["a", "a.b", "app.editor.saved", "$SYS.client.connected" if wildcards else "$app.x",
                                                 "città.évènement", "温度.读数", "📦.built", "a-b_c:d/e#f+g", "x" * 256]]
    cases += [named(text, False, code) for text in ["", ".", "a.", ".a", "a..b", "x" * 257, "é" * 129]]
    cases += [named(f"a{chr(point)}b", False, code) for point in REFUSED_SAMPLES]
    cases += [named(f"a{chr(point)}b", True, code) for point in ALLOWED_SAMPLES]
    cases.append({"hex": "61c328", "valid": False, "code": code, "note": "not valid UTF-8"})
    if wildcards:
        cases += [named(text, True, code) for text in ["*", ">", "a.*", "a.>", "*.b.>", "*.*.*", "a.*.c"]]
        cases += [named(text, False, code) for text in ["a*", "a.b*", "*a", ">.a", "a.>.b", "a.>>", "a.**"]]
    else:
        cases += [named(text, False, code) for text in ["*", ">", "a.*", "a.>", "a*", "a.b>"]]
    return cases


def queue_cases():
    cases = [named(text, True, "INVALID_QUEUE") for text in ["w", "workers", "a.b", "*", ">", "q" * 64, "é" * 32, "温度"]]
    cases += [named(text, False, "INVALID_QUEUE") for text in ["", "q" * 65, "é" * 33, "two words"]]
    cases += [named(f"q{chr(point)}", False, "INVALID_QUEUE") for point in REFUSED_SAMPLES]
    return cases


def header_name_cases():
    cases = [named(text, True, "INVALID_DATA") for text in ["h", "content-type", "X-Trace-Id", "é", "a.b", "h" * 256]]
    cases += [named(text, False, "INVALID_DATA") for text in ["", "a:b", ":", "h" * 257, "a b"]]
    cases += [named(f"h{chr(point)}", False, "INVALID_DATA") for point in REFUSED_SAMPLES]
    return cases


with open(os.path.join(HERE, "topics.json"), "w", encoding="utf-8") as out:
    json.dump({
        "about": "Verdicts of PROTOCOL.md §4: publish topics, subscription patterns (no complexity limits here: those are broker options), queue group names, header names. value is the text; hex the UTF-8 bytes where they are not valid UTF-8.",
        "topics": topic_cases("INVALID_TOPIC", False),
        "patterns": topic_cases("INVALID_PATTERN", True),
        "queues": queue_cases(),
        "headerNames": header_name_cases(),
    }, out, indent=1, ensure_ascii=False)
    out.write("\n")

MATCHING = [
    ("a", "a", True), ("a", "b", False), ("a.b", "a.b", True), ("a.b", "a", False), ("a", "a.b", False),
    ("*", "a", True), ("*", "a.b", False), ("a.*", "a.b", True), ("a.*", "a", False), ("a.*", "a.b.c", False),
    ("a.*.c", "a.b.c", True), ("a.*.c", "a.c", False), ("a.*.c", "a.b.d", False),
    (">", "a", True), (">", "a.b.c", True), ("a.>", "a", False), ("a.>", "a.b", True), ("a.>", "a.b.c", True),
    ("*.b.>", "a.b.c", True), ("*.b.>", "a.b", False), ("*.*", "a.b", True), ("*.*", "a.b.c", False),
    (">", "$SYS.client.connected", False), ("*.client.connected", "$SYS.client.connected", False),
    ("$SYS.>", "$SYS.client.connected", True), ("$SYS.*.connected", "$SYS.client.connected", True),
    (">", "$app", False), ("*", "$app", False), ("a.>", "a.$b", True), ("a.*", "a.$b", True),
    ("A", "a", False), ("é", "e\u0301", False), ("città.*", "città.x", True),
]

with open(os.path.join(HERE, "matching.json"), "w", encoding="utf-8") as out:
    json.dump({
        "about": "Which patterns match which topics (PROTOCOL.md §4.2): byte for byte, no case folding or normalisation, and a leading wildcard never matches a topic whose first token starts with $.",
        "cases": [{"pattern": pattern, "topic": topic, "matches": matches} for pattern, topic, matches in MATCHING],
    }, out, indent=1, ensure_ascii=False)
    out.write("\n")
