"""A small command line, mirroring the sockbus CLI: python3 -m sockbus --help."""

import base64
import json
import sys
import threading

import msgpack

from .client import connect
from .errors import SockbusError
from .terminal import escape_controls

# What the CLI calls itself in its messages, as `python3 -m sockbus` runs it.
PROGRAM = "sockbus (python)"

USAGE = """usage: python3 -m sockbus [--socket PATH] [--name NAME] [--broker-uid USER] COMMAND ...
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
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, msgpack.ExtType):
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
        client = connect(options.get("--socket"), options.get("--name", PROGRAM + " " + command),
                         broker_uid=options.get("--broker-uid"), option_name="--broker-uid")
    except SockbusError as error:
        print(PROGRAM + ": %s" % escape_controls(error.message), file=sys.stderr)
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
            print(PROGRAM + ": subscribed to %s" % arguments[0], file=sys.stderr, flush=True)
            client.on_reconnect = lambda: print(PROGRAM + ": reconnected", file=sys.stderr, flush=True)
            done.wait()
            client.flush()
        else:
            print(USAGE, end="", file=sys.stderr)
            return 2
    except SockbusError as error:
        print(PROGRAM + ": %s" % escape_controls(error.message), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0
