"""Topics, patterns, queue group names and header names (PROTOCOL.md section 4), checked as the broker checks them."""

import json
import re

import msgpack

from .errors import SockbusError
from .limits import DEFAULT_LIMITS, MAX_HEADER_NAME_BYTES, MAX_QUEUE_NAME_BYTES, limit

# Section 4.1's refused code points, exactly, so that every implementation agrees without a Unicode database.
REFUSED_CODE_POINTS = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x061C, 0x061C), (0x1680, 0x1680),
    (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x206F), (0x3000, 0x3000),
    (0x3164, 0x3164), (0xFFA0, 0xFFA0), (0xFEFF, 0xFEFF), (0xFFF0, 0xFFFF), (0xE0000, 0xE007F),
)
_REFUSED = re.compile("[%s]" % "".join("\\U%08x-\\U%08x" % span for span in REFUSED_CODE_POINTS))


def utf8_text(value):
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


def _refused_problem(what, text):
    """Section 4.1: a name holding a character that is invisible or looks like a space is refused, whatever it names."""
    match = _REFUSED.search(text)
    if match is None:
        return None
    return "invalid %s %s: it holds U+%04X, a character that is invisible or looks like a space (section 4.1)" % (what, json.dumps(text), ord(match.group()))


def _name_problem(what, value, max_bytes, wildcards):
    decoded = utf8_text(value)
    if decoded is None:
        return "invalid %s %r: not valid UTF-8 text" % (what, value)
    text, utf8 = decoded
    if not text:
        return 'invalid %s "": it is empty' % what
    if len(utf8) > max_bytes:
        return "invalid %s: %d bytes is longer than the limit of %d bytes" % (what, len(utf8), max_bytes)
    refused = _refused_problem(what, text)
    if refused:
        return refused
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
    problem = topic_problem(topic, limit(limits, "maxTopicBytes"))
    if problem:
        raise SockbusError("INVALID_TOPIC", problem)
    text = utf8_text(topic)[0]
    if text.split(".", 1)[0] == "$SYS":
        raise SockbusError("RESERVED_TOPIC", "topic %s is reserved for the broker; clients may subscribe to $SYS. topics but not publish on them" % text)


def check_pattern(pattern, limits=None):
    """Raises INVALID_PATTERN or PATTERN_TOO_COMPLEX (sections 4.2 and 5) as the broker would."""
    problem = pattern_problem(pattern, limit(limits, "maxTopicBytes"))
    if problem:
        raise SockbusError("INVALID_PATTERN", problem)
    tokens = utf8_text(pattern)[0].split(".")
    max_tokens, max_wildcards = limit(limits, "maxPatternTokens"), limit(limits, "maxPatternWildcards")
    if len(tokens) > max_tokens:
        raise SockbusError("PATTERN_TOO_COMPLEX", "pattern has %d tokens; the limit is %d" % (len(tokens), max_tokens))
    wildcards = tokens.count("*")
    if wildcards > max_wildcards:
        raise SockbusError("PATTERN_TOO_COMPLEX", 'pattern has %d "*" wildcards; the limit is %d' % (wildcards, max_wildcards))


def _bounded_name_problem(what, name, max_bytes):
    """Sections 4.3 and 4.4 alike: valid UTF-8, 1 to max_bytes bytes, no refused character."""
    decoded = utf8_text(name)
    if decoded is None:
        return "invalid %s %r: not valid UTF-8 text" % (what, name)
    text, utf8 = decoded
    if not utf8 or len(utf8) > max_bytes:
        return "invalid %s %s: it must be 1 to %d bytes, not %d" % (what, json.dumps(text), max_bytes, len(utf8))
    return _refused_problem(what, text)


def queue_name_problem(name):
    """Why a queue group name breaks section 4.3 (1 to 64 bytes, no refused character), or None."""
    return _bounded_name_problem("queue group name", name, MAX_QUEUE_NAME_BYTES)


def check_queue_name(name):
    problem = queue_name_problem(name)
    if problem:
        raise SockbusError("INVALID_QUEUE", problem)


def header_name_problem(name):
    """Why a header name breaks section 4.4 (1 to 256 bytes, no refused character, no ':'), or None."""
    problem = _bounded_name_problem("header name", name, MAX_HEADER_NAME_BYTES)
    if problem is None and ":" in utf8_text(name)[0]:
        return "invalid header name %s: it holds ':'" % json.dumps(utf8_text(name)[0])
    return problem


def check_headers(headers, limits=None):
    """Raises HEADERS_TOO_LARGE or INVALID_DATA for headers the broker would refuse (section 4.4)."""
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise SockbusError("INVALID_DATA", "headers must be a dict of str names to str values, not %s" % type(headers).__name__)
    # The broker's order: too many entries, then too many bytes, then the first entry that breaks section 4.4.
    max_entries, max_bytes = limit(limits, "maxHeaderEntries"), limit(limits, "maxHeaderBytes")
    if len(headers) > max_entries:
        raise SockbusError("HEADERS_TOO_LARGE", "headers have %d entries; the limit is %d" % (len(headers), max_entries))
    encoded = _encoded_size(headers)
    if encoded > max_bytes:
        raise SockbusError("HEADERS_TOO_LARGE", "headers take %d bytes encoded; the limit is %d" % (encoded, max_bytes))
    for name, value in headers.items():
        problem = header_name_problem(name) if isinstance(name, str) else "invalid header name %r: header names are str" % (name,)
        if problem:
            raise SockbusError("INVALID_DATA", problem)
        if not isinstance(value, str) or utf8_text(value) is None:
            raise SockbusError("INVALID_DATA", "header %s: a header value must be a str of valid UTF-8" % json.dumps(name))


def _encoded_size(value):
    """Bytes value takes as msgpack; a str that is not valid UTF-8 counted as the bytes it escapes, else as 3 a surrogate."""
    for errors in ("strict", "surrogateescape", "surrogatepass"):
        try:
            return len(msgpack.packb(value, use_bin_type=True, unicode_errors=errors))
        except UnicodeEncodeError:
            continue
    raise SockbusError("INVALID_DATA", "the headers hold text that cannot be encoded")


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
