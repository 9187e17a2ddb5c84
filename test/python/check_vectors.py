"""Runs the conformance vectors (protocol/vectors/*.json) through the Python client.

Usage: check_vectors.py DIRECTORY. Prints one JSON object: how many vectors of
each kind were checked, the client frames it could not judge and why, and
every vector the client disagrees with. Run by
test/python/vectors.test.ts; SOCKBUS_PYTHON_CLIENT_DIR points at the folder holding the package under test.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SOCKBUS_PYTHON_CLIENT_DIR") or os.path.join(HERE, "..", "..", "clients", "python"))

import msgpack  # noqa: E402
import sockbus  # noqa: E402


def verdict(check, value):
    """The code check raises for value, or None when it passes."""
    try:
        check(value)
    except sockbus.SockbusError as error:
        return error.code
    return None


def header_name(value):
    problem = sockbus.header_name_problem(value)
    if problem:
        raise sockbus.SockbusError("INVALID_DATA", problem)


def pattern(value):
    # topics.json judges patterns by section 4.2 alone: the complexity limits are broker options.
    problem = sockbus.pattern_problem(value)
    if problem:
        raise sockbus.SockbusError("INVALID_PATTERN", problem)


# What the client checks locally, per list in topics.json, and the code a refusal carries (section 4).
NAME_CHECKS = {
    "topics": (sockbus.check_topic, "INVALID_TOPIC"),
    "patterns": (pattern, "INVALID_PATTERN"),
    "queues": (sockbus.check_queue_name, "INVALID_QUEUE"),
    "headerNames": (header_name, "INVALID_DATA"),
}


def name_value(case):
    """A vector's name as the application would pass it: a str, or bytes when given as hex (they may not be UTF-8)."""
    if "hex" in case:
        raw = bytes.fromhex(case["hex"])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    return case["value"]


def as_json(value):
    """A decoded msgpack value in the vectors' JSON form: {"$bin": hex}, {"$ext": [type, hex]}, null for nil."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, msgpack.ExtType):
        return {"$ext": [value.code, value.data.hex()]}
    if isinstance(value, msgpack.Timestamp):
        return {"$ext": [-1, value.to_bytes().hex()]}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key if isinstance(key, str) else json.dumps(as_json(key)): as_json(item) for key, item in value.items()}
    return value


def same(left, right):
    """Deep equality that tells true from 1 (Python's == does not)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def check_names(document, failures, checked):
    for list_name, (check, default_code) in NAME_CHECKS.items():
        for case in document.get(list_name, []):
            value = name_value(case)
            got = verdict(check, value)
            expected = None if case["valid"] else case.get("code", default_code)
            checked[list_name] = checked.get(list_name, 0) + 1
            if got != expected:
                failures.append({"file": "topics.json", "list": list_name, "case": case, "expected": expected, "got": got})


def check_matching(document, failures, checked):
    for case in document["cases"]:
        got = sockbus.pattern_matches(case["pattern"], case["topic"])
        checked["matching"] = checked.get("matching", 0) + 1
        if got != case["matches"]:
            failures.append({"file": "matching.json", "case": case, "expected": case["matches"], "got": got})


def decode_whole_frame(data):
    """A whole frame as a client reads it: bounded by the welcome's maxBrokerFrameBytes, then checked for its shape."""
    decoder = sockbus.FrameDecoder(sockbus.DEFAULT_LIMITS["maxBrokerFrameBytes"])
    decoder.push(data)
    body = decoder.next_body()
    if body is None or decoder.next_body() is not None:
        raise ValueError("the hex is not exactly one whole frame")
    sockbus.decode_broker_message(body)  # raises on a shape the client would refuse
    return sockbus.wire.unpack(body)


def check_broker_frames(cases, failures, checked):
    for case in cases:
        checked["brokerFrames"] = checked.get("brokerFrames", 0) + 1
        try:
            got = as_json(decode_whole_frame(bytes.fromhex(case["hex"])))
        except (ValueError, sockbus.SockbusError) as error:
            failures.append({"file": "frames.json", "name": case.get("name"), "expected": case.get("value"), "got": "raised %s" % error})
            continue
        if not same(got, case["value"]):
            failures.append({"file": "frames.json", "name": case.get("name"), "expected": case["value"], "got": got})


# Codes the client raises itself, before sending, for each kind of frame it sends (PROTOCOL.md section 3.2:
# "check what it can locally ... with the same code the broker would send").
LOCAL_CODES = {
    sockbus.PUBLISH: {"INVALID_TOPIC", "RESERVED_TOPIC", "HEADERS_TOO_LARGE", "INVALID_DATA", "FRAME_TOO_LARGE"},
    sockbus.SUBSCRIBE: {"INVALID_PATTERN", "PATTERN_TOO_COMPLEX", "INVALID_QUEUE"},
    sockbus.RESPOND: {"HEADERS_TOO_LARGE", "INVALID_DATA", "FRAME_TOO_LARGE"},
}


def broker_code(answer_hex):
    """The code of an error frame, or of a reply carrying an error; None for any other answer."""
    answer = msgpack.unpackb(bytes.fromhex(answer_hex)[4:], raw=False)
    if answer[0] == sockbus.ERROR:
        return answer[1]
    if answer[0] == sockbus.REPLY and answer[4]:
        return answer[4]["code"]
    return None


def local_verdict(message):
    """The code the Python client raises for the call that would send this frame, or None when it sends it."""
    kind = message[0]
    try:
        if kind == sockbus.PUBLISH:
            sockbus.encode_publish(message[1], message[2], *message[3:5])
        elif kind == sockbus.SUBSCRIBE:
            sockbus.check_pattern(message[2])
            options = message[3] if len(message) > 3 else None
            if options and "queue" in options:
                sockbus.check_queue_name(options["queue"])
        elif kind == sockbus.RESPOND:
            sockbus.encode_respond(message[1], message[2], *message[3:5])
    except sockbus.SockbusError as error:
        return error.code
    return None


def expressible(body):
    """The frame as the Python API would hold its values: None when the API cannot make it (a map repeating a key,
    a non-canonical encoding). Text that is not UTF-8 is held as a str with surrogate escapes, which the client refuses."""
    message = msgpack.unpackb(body, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
    if not isinstance(message, list) or not message or message[0] not in LOCAL_CODES:
        return None
    try:
        same_bytes = msgpack.packb(message, use_bin_type=True) == body
    except UnicodeEncodeError:
        same_bytes = True  # the surrogate escapes stand for the bytes that are not UTF-8
    return message if same_bytes else None


def check_client_frames(cases, failures, checked, skipped):
    """Each client frame the API can make, and whose broker verdict does not close the connection: the client must
    refuse it locally with the broker's code when that code is one it checks, and send it otherwise."""
    for case in cases:
        expect = case["expect"]
        why_not = None
        if not case["hello"] or len(case["frames"]) != 1:
            why_not = "not one frame after a hello"
        elif "answers" not in expect:
            why_not = "a malformed frame, which the API cannot send"
        else:
            try:
                message = expressible(bytes.fromhex(case["frames"][0])[4:])
            except (ValueError, msgpack.exceptions.UnpackException):
                message = None
            if message is None:
                why_not = "not a frame the API makes"
            elif message[0] == sockbus.PUBLISH and len(message) > 4 and message[4] and "retain" in message[4] and "request" in message[4]:
                why_not = "publish() and request() cannot ask for both"
        if why_not:
            skipped.append({"name": case["name"], "why": why_not})
            continue
        codes = [broker_code(answer) for answer in expect["answers"]]
        broker = next((code for code in codes if code is not None), None)
        expected = broker if broker in LOCAL_CODES[message[0]] else None
        got = local_verdict(message)
        checked["clientFrames"] = checked.get("clientFrames", 0) + 1
        if got != expected:
            failures.append({"file": "frames.json", "name": case["name"], "expected": expected, "got": got})


def main(directory):
    failures, checked, skipped = [], {}, []

    def load(name):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            failures.append({"file": name, "got": "missing"})
            return None
        with open(path, encoding="utf-8") as file:
            return json.load(file)

    topics = load("topics.json")
    if topics is not None:
        check_names(topics, failures, checked)
    matching = load("matching.json")
    if matching is not None:
        check_matching(matching, failures, checked)
    frames = load("frames.json")
    if frames is not None:
        check_broker_frames(frames.get("broker", []), failures, checked)
        check_client_frames(frames.get("client", []), failures, checked, skipped)
    print(json.dumps({"checked": checked, "skipped": skipped, "failures": failures}))


if __name__ == "__main__":
    main(sys.argv[1])
