"""Unit tests of the Python client's parts that need no broker: names, frames, the offline queue, backoff.

Run by test/python/units.test.ts; SOCKBUS_PYTHON_CLIENT_DIR points at the folder holding the package under test.
"""

import os
import socket
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SOCKBUS_PYTHON_CLIENT_DIR") or os.path.join(HERE, "..", "..", "clients", "python"))

import msgpack  # noqa: E402
import sockbus  # noqa: E402


def code_of(action):
    try:
        action()
    except sockbus.SockbusError as error:
        return error.code
    return None


class Names(unittest.TestCase):
    """Section 4: the refused code points, exactly, and the shapes of topics, patterns, queue and header names."""

    def test_every_refused_range_is_refused_at_both_ends_and_its_neighbours_allowed(self):
        for first, last in sockbus.REFUSED_CODE_POINTS:
            for code_point in (first, last):
                self.assertEqual(code_of(lambda: sockbus.check_topic("a%sb" % chr(code_point))), "INVALID_TOPIC", hex(code_point))
                self.assertEqual(code_of(lambda: sockbus.check_queue_name("q%s" % chr(code_point))), "INVALID_QUEUE", hex(code_point))
                self.assertIsNotNone(sockbus.header_name_problem("h%s" % chr(code_point)), hex(code_point))
            for neighbour in (first - 1, last + 1):
                if any(low <= neighbour <= high for low, high in sockbus.REFUSED_CODE_POINTS) or neighbour < 0 or 0xD800 <= neighbour <= 0xDFFF:
                    continue
                if chr(neighbour) in ".*>:":
                    continue
                self.assertIsNone(sockbus.topic_problem("a%sb" % chr(neighbour)), hex(neighbour))

    def test_the_characters_issue_13_named(self):
        # Refused by the v1 broker but not said: U+00A0, U+2028, U+FEFF; accepted though invisible: U+200B.
        for character in ("\u00a0", "\u2028", "\ufeff", "\u200b", "\u00ad", "\U000e0041"):
            self.assertEqual(code_of(lambda: sockbus.check_topic("x" + character)), "INVALID_TOPIC", repr(character))
        for topic in ("città.évènement", "温度.读数", "📦.built", "a-b_c.D9", "$app.x"):
            self.assertIsNone(sockbus.topic_problem(topic), topic)

    def test_topics(self):
        for topic, code in (("", "INVALID_TOPIC"), ("a..b", "INVALID_TOPIC"), (".a", "INVALID_TOPIC"), ("a.", "INVALID_TOPIC"),
                            ("a.*", "INVALID_TOPIC"), ("a.>", "INVALID_TOPIC"), ("a*b", "INVALID_TOPIC"), ("x" * 257, "INVALID_TOPIC"),
                            ("\ud800", "INVALID_TOPIC"), ("$SYS.x", "RESERVED_TOPIC"), ("$SYS", "RESERVED_TOPIC"),
                            ("x" * 256, None), ("é" * 128, None), ("é" * 129, "INVALID_TOPIC"), ("$SYSTEM.x", None)):
            self.assertEqual(code_of(lambda: sockbus.check_topic(topic)), code, topic[:20])

    def test_topics_given_as_bytes_must_be_utf8(self):
        for raw in (b"a\xffb", b"\xc0\xae", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):  # invalid, overlong, surrogate, past U+10FFFF
            self.assertIsNotNone(sockbus.topic_problem(raw), raw)
        self.assertIsNone(sockbus.topic_problem("città".encode()))

    def test_patterns(self):
        for pattern, code in (("a.*", None), ("a.>", None), (">", None), ("*", None), ("*.*.*", None), ("a.*.b.>", None),
                              ("app.ed*", "INVALID_PATTERN"), ("a.>x", "INVALID_PATTERN"), (">.a", "INVALID_PATTERN"), ("a.>.b", "INVALID_PATTERN"),
                              ("a..b", "INVALID_PATTERN"), ("", "INVALID_PATTERN"), ("a b", "INVALID_PATTERN"),
                              ("*.*.*.*", "PATTERN_TOO_COMPLEX"), (".".join("t" * 16), None), (".".join("t" * 17), "PATTERN_TOO_COMPLEX"),
                              ("x" * 257, "INVALID_PATTERN"), ("$SYS.>", None)):
            self.assertEqual(code_of(lambda: sockbus.check_pattern(pattern)), code, pattern)

    def test_pattern_limits_follow_the_welcome(self):
        limits = {"maxPatternTokens": 2, "maxPatternWildcards": 1}
        self.assertEqual(code_of(lambda: sockbus.check_pattern("a.b.c", limits)), "PATTERN_TOO_COMPLEX")
        self.assertEqual(code_of(lambda: sockbus.check_pattern("*.*", limits)), "PATTERN_TOO_COMPLEX")
        self.assertIsNone(code_of(lambda: sockbus.check_pattern("a.*", limits)))

    def test_queue_names(self):
        for name, code in (("w", None), ("a.b*>", None), ("q" * 64, None), ("q" * 65, "INVALID_QUEUE"), ("", "INVALID_QUEUE"), ("a b", "INVALID_QUEUE")):
            self.assertEqual(code_of(lambda: sockbus.check_queue_name(name)), code, name)

    def test_headers(self):
        self.assertIsNone(code_of(lambda: sockbus.check_headers({"trace-id": "", "k": "any\nvalue\u2028"})))
        for headers, code in (({"a:b": "v"}, "INVALID_DATA"), ({"": "v"}, "INVALID_DATA"), ({"a b": "v"}, "INVALID_DATA"),
                              ({"h" * 257: "v"}, "INVALID_DATA"), ({"h" * 256: "v"}, None), ({"k": 1}, "INVALID_DATA"), ({1: "v"}, "INVALID_DATA"),
                              ({"k": "\ud800"}, "INVALID_DATA"), (dict(("h%d" % n, "") for n in range(65)), "HEADERS_TOO_LARGE"),
                              (dict(("h%d" % n, "") for n in range(64)), None), ({"k": "v" * 16380}, "HEADERS_TOO_LARGE")):
            self.assertEqual(code_of(lambda: sockbus.check_headers(headers)), code, str(headers)[:40])

    def test_the_first_problem_is_the_one_the_broker_reports(self):
        # Section 3.3: topic, $SYS, the strings in data, the headers; in headers: entries, bytes, then each entry.
        big_and_bad = {"a:b": "x" * 16400}
        self.assertEqual(code_of(lambda: sockbus.encode_publish("$SYS.x", "\ud800")), "RESERVED_TOPIC")
        self.assertEqual(code_of(lambda: sockbus.encode_publish("a", "\ud800", big_and_bad)), "INVALID_DATA")
        self.assertEqual(code_of(lambda: sockbus.encode_publish("a", 1, big_and_bad)), "HEADERS_TOO_LARGE")
        self.assertEqual(code_of(lambda: sockbus.encode_publish("a", 1, {"k": "\ud800" * 6000})), "HEADERS_TOO_LARGE")
        self.assertEqual(code_of(lambda: sockbus.encode_publish("a", b"x" * 1048576)), "FRAME_TOO_LARGE")
        self.assertEqual(code_of(lambda: sockbus.encode_respond("q3Zr0F8mTbW2xYk9", "\ud800", big_and_bad)), "INVALID_DATA")

    def test_bodies_are_what_msgpack_makes_of_the_whole_message(self):
        self.assertEqual(sockbus.encode_publish("a.b", {"n": 1}), msgpack.packb([3, "a.b", {"n": 1}]))
        self.assertEqual(sockbus.encode_publish("a.b", "x", {"k": "v"}), msgpack.packb([3, "a.b", "x", {"k": "v"}]))
        self.assertEqual(sockbus.encode_publish("a.b", None, None, {"request": 5}), msgpack.packb([3, "a.b", None, None, {"request": 5}]))
        self.assertEqual(sockbus.encode_respond("R", 12), msgpack.packb([14, "R", 12, None, None]))
        self.assertEqual(sockbus.encode_publish("città".encode(), 1), msgpack.packb([3, "città", 1]))

    def test_matching(self):
        for pattern, topic, expected in (("app.*", "app.x", True), ("app.*", "app.x.y", False), ("app.>", "app", False),
                                         ("app.>", "app.x.y", True), (">", "$SYS.x", False), ("*.connected", "$SYS.connected", False),
                                         ("$SYS.>", "$SYS.client.connected", True), ("a.*.c", "a.b.c", True)):
            self.assertEqual(sockbus.pattern_matches(pattern, topic), expected, (pattern, topic))


class Frames(unittest.TestCase):
    """Section 2 and 3: bounded reads, and the broker's frame shapes."""

    def feed(self, decoder, data, chunk):
        bodies = []
        for start in range(0, len(data), chunk):
            decoder.push(data[start:start + chunk])
            while True:
                body = decoder.next_body()
                if body is None:
                    break
                bodies.append(body)
        return bodies

    def test_whole_byte_by_byte_and_split_at_every_point(self):
        bodies = [msgpack.packb([6, "a.b", n, None, None, [1000, n]]) for n in range(5)]
        data = b"".join(sockbus.frame(body) for body in bodies)
        for chunk in (len(data), 1, 3, 7):
            self.assertEqual(self.feed(sockbus.FrameDecoder(1024), data, chunk), bodies, chunk)
        for split in range(1, len(data)):
            decoder = sockbus.FrameDecoder(1024)
            got = self.feed(decoder, data[:split], split) + self.feed(decoder, data[split:], len(data))
            self.assertEqual(got, bodies, split)

    def test_a_length_past_the_limit_fails_before_its_body_is_buffered(self):
        decoder = sockbus.FrameDecoder(100)
        decoder.push(struct.pack(">I", 101))
        with self.assertRaises(sockbus.SockbusError) as caught:
            decoder.next_body()
        self.assertEqual(caught.exception.code, "FRAME_TOO_LARGE")
        self.assertIn("101 bytes, more than the 100", caught.exception.message)
        # It stays failed.
        with self.assertRaises(sockbus.SockbusError):
            decoder.push(b"\x00")
        exact = sockbus.FrameDecoder(100)
        exact.push(sockbus.frame(b"\xc0" * 100))
        self.assertEqual(len(exact.next_body()), 100)

    def test_length_zero_is_malformed(self):
        decoder = sockbus.FrameDecoder(100)
        decoder.push(b"\x00\x00\x00\x00")
        self.assertEqual(code_of(decoder.next_body), "MALFORMED_FRAME")

    def test_the_limit_applies_to_frames_behind_the_welcome(self):
        decoder = sockbus.FrameDecoder(sockbus.HANDSHAKE_MAX_FRAME_BYTES)
        big = msgpack.packb([6, "a", b"x" * 70000, None, None, None])
        decoder.push(sockbus.frame(msgpack.packb([2, {"version": 2}])) + sockbus.frame(big))
        self.assertIsNotNone(decoder.next_body())
        decoder.max_body_bytes = 100000
        self.assertEqual(decoder.next_body(), big)

    def test_broker_frames_are_checked_and_cut_to_their_shape(self):
        decode = sockbus.decode_broker_message
        self.assertEqual(decode(msgpack.packb([16, 3, "later field"])), [16, 3])
        self.assertEqual(decode(msgpack.packb([99, "unknown kind"])), [99, "unknown kind"])
        self.assertEqual(decode(msgpack.packb([9, "INVALID_PATTERN", "m", {"kind": 4, "sub": 1}])), [9, "INVALID_PATTERN", "m", {"kind": 4, "sub": 1}])
        for bad in ([6, "a", 1], [9, "X", "m"], [8, -1], [8, 2 ** 32], [8, 1.0], [True, 1], "not an array", []):
            self.assertEqual(code_of(lambda: decode(msgpack.packb(bad))), "INVALID_MESSAGE", repr(bad))
        self.assertEqual(code_of(lambda: decode(b"\x92\x08")), "MALFORMED_FRAME")
        self.assertEqual(code_of(lambda: decode(b"\x92\x08\x01\x00")), "MALFORMED_FRAME")

    def test_unknown_extension_types_reach_the_application_and_encode_back_to_the_same_bytes(self):
        body = bytes.fromhex("96 06 a1 78 d6 2a 01 02 03 04 c0 c0 c0".replace(" ", ""))
        message = sockbus.decode_broker_message(body)
        self.assertEqual(message[2], msgpack.ExtType(42, b"\x01\x02\x03\x04"))
        self.assertEqual(sockbus.wire.pack(message[2]), bytes.fromhex("d62a01020304"))

    def test_negative_extension_types_too(self):
        # msgpack.ExtType refuses codes below 0, which made such a delivery undecodable (the vector "data with a negative extension type").
        body = bytes.fromhex("96 06 a1 78 c7 03 fb 01 02 03 c0 c0 c0".replace(" ", ""))
        value = sockbus.decode_broker_message(body)[2]
        self.assertIsInstance(value, msgpack.ExtType)
        self.assertEqual((value.code, value.data), (-5, b"\x01\x02\x03"))
        self.assertEqual(sockbus.wire.pack(value), bytes.fromhex("c703fb010203"))
        self.assertEqual(sockbus.wire.pack(sockbus.Ext(-128, b"a")), bytes.fromhex("d48061"))
        with self.assertRaises(ValueError):
            sockbus.Ext(128, b"")


class Queue(unittest.TestCase):
    """The offline queue: bounded by count and bytes, the oldest give way and are counted."""

    def test_bounded_by_count(self):
        queue = sockbus.OfflineQueue(3, 1000)
        self.assertEqual([queue.push(bytes([n])) for n in range(5)], [0, 0, 0, 1, 1])
        self.assertEqual(queue.drain(), [b"\x02", b"\x03", b"\x04"])
        self.assertEqual((len(queue), queue.bytes), (0, 0))

    def test_bounded_by_bytes(self):
        queue = sockbus.OfflineQueue(100, 10)
        self.assertEqual(queue.push(b"aaaa"), 0)
        self.assertEqual(queue.push(b"bbbb"), 0)
        self.assertEqual(queue.push(b"cccc"), 1)
        self.assertEqual(queue.push(b"x" * 11), 3)  # it can never fit: it and everything before it go
        self.assertEqual(queue.drain(), [])

    def test_many_drops_keep_order_and_memory_small(self):
        queue = sockbus.OfflineQueue(10, 10 ** 6)
        dropped = sum(queue.push(str(n).encode()) for n in range(5000))
        self.assertEqual(dropped, 4990)
        self.assertLess(len(queue._frames), 3000)
        self.assertEqual(queue.drain(), [str(n).encode() for n in range(4990, 5000)])


class Backoff(unittest.TestCase):
    """Section 8: after the n-th failure in a row, uniform in [b/2, b), b = min(2000, 20 * 2^n) ms."""

    def test_bounds(self):
        for attempt, bound in ((0, 0.02), (1, 0.04), (4, 0.32), (6, 1.28), (7, 2.0), (50, 2.0)):
            self.assertAlmostEqual(sockbus.reconnect_delay(attempt, lambda: 0.0), bound / 2)
            self.assertLess(sockbus.reconnect_delay(attempt, lambda: 0.999999), bound)
            self.assertGreater(sockbus.reconnect_delay(attempt, lambda: 0.999999), bound * 0.999)

    def test_draws_spread_over_the_range(self):
        delays = [sockbus.reconnect_delay(3) for _ in range(2000)]
        self.assertGreaterEqual(min(delays), 0.08)
        self.assertLess(max(delays), 0.16)
        self.assertLess(min(delays), 0.085)
        self.assertGreater(max(delays), 0.155)


class Codes(unittest.TestCase):
    def test_library_codes_and_closing_codes(self):
        for name in ("BROKER_UNAVAILABLE", "UNTRUSTED_BROKER", "BROKER_UNRESPONSIVE", "CONNECTION_CLOSED", "CLIENT_CLOSED",
                     "REQUEST_TIMEOUT", "NOT_A_REQUEST", "HANDLER_FAILED"):
            self.assertEqual(getattr(sockbus, name), name)
        self.assertTrue(sockbus.SockbusError("SLOW_CONSUMER", "m").closes_connection)
        self.assertFalse(sockbus.SockbusError("INVALID_TOPIC", "m").closes_connection)
        self.assertEqual(sockbus.PROTOCOL_VERSION, 2)


if __name__ == "__main__":
    unittest.main()
