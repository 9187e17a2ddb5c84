"""Runs the conformance vectors (protocol/vectors/*.json) through the Python client.

Usage: check_vectors.py DIRECTORY. Prints one JSON object: how many vectors of
each kind were checked, and every one the client disagrees with. Run by
test/python/vectors.test.ts; SOCKBUS_PYTHON_CLIENT_DIR points at the module under test.
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


# What the client checks locally, per list in topics.json, and the code a refusal carries (section 4).
NAME_CHECKS = {
    "topics": (sockbus.check_topic, "INVALID_TOPIC"),
    "patterns": (sockbus.check_pattern, "INVALID_PATTERN"),
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


def check_matching(cases, failures, checked):
    for case in cases:
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
    return msgpack.unpackb(body, raw=False, strict_map_key=False)


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


def main(directory):
    failures, checked = [], {}

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
    print(json.dumps({"checked": checked, "failures": failures}))


if __name__ == "__main__":
    main(sys.argv[1])
