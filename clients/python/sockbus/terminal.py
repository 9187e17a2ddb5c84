"""What the client writes on stderr: a peer's text made safe for a terminal, and the default reports."""

import re
import sys

_UNSAFE = re.compile("[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text):
    """A peer's text for a terminal: controls, bidi controls and line separators escaped, so it cannot forge a line."""
    def escaped(match):
        character = match.group()
        code = ord(character)
        return _NAMED.get(character) or ("\\x%02x" % code if code <= 0xFF else "\\u%04x" % code)
    return _UNSAFE.sub(escaped, str(text))


def report(notice):
    """The default on_error and on_dropped: one line on stderr."""
    print("sockbus: %s" % escape_controls(notice), file=sys.stderr)


def run_callback(callback, *arguments):
    """Runs an application callback; one that raises is said on stderr, and the client goes on."""
    try:
        callback(*arguments)
    except Exception as error:
        print("sockbus: a callback raised: %s" % escape_controls(repr(error)), file=sys.stderr)
