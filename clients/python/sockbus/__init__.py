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

Run as a program for a small command line: python3 -m sockbus --help

This folder is the whole client: copy it into your project. The names below are
the public API, as the single module sockbus.py had them; each module owns one job.
"""

from .backoff import INITIAL_RECONNECT_DELAY, MAX_RECONNECT_DELAY, NEW_SOCKET_JITTER, SOCKET_POLL_INTERVAL, STABLE_SESSION_SECONDS, reconnect_delay
from .cli import USAGE, main
from .client import Client, connect
from .counters import Counters, Dropped
from .errors import (BROKER_UNAVAILABLE, BROKER_UNRESPONSIVE, CLIENT_CLOSED, CLOSING_CODES, CONNECTION_CLOSED, HANDLER_FAILED,
                     NOT_A_REQUEST, REQUEST_TIMEOUT, UNTRUSTED_BROKER, SockbusError)
from .handshake import DEFAULT_PATH, socket_path
from .limits import DEFAULT_LIMITS, HANDSHAKE_MAX_FRAME_BYTES, MAX_HEADER_NAME_BYTES, MAX_QUEUE_NAME_BYTES
from .messages import Message, Reply
from .names import (REFUSED_CODE_POINTS, check_headers, check_pattern, check_queue_name, check_topic, header_name_problem,
                    pattern_matches, pattern_problem, queue_name_problem, topic_problem)
from .offline import DEFAULT_OFFLINE_QUEUE_BYTES, DEFAULT_OFFLINE_QUEUE_MESSAGES, OfflineQueue
from .subscriptions import Subscription
from .terminal import escape_controls
from .trust import BROKER_UID_VARIABLE
from .wire import (DROPPED, ERROR, GOING_AWAY, HELLO, MESSAGE, PING, PONG, PROTOCOL_VERSION, PUBLISH, REPLY, RESPOND, STATS,
                   STATS_REQUEST, SUBSCRIBE, SUBSCRIBED, UNSUBSCRIBE, WELCOME, Ext, FrameDecoder, decode_broker_message,
                   encode_publish, encode_respond, frame)

__all__ = [
    "BROKER_UID_VARIABLE", "BROKER_UNAVAILABLE", "BROKER_UNRESPONSIVE", "CLIENT_CLOSED", "CLOSING_CODES", "CONNECTION_CLOSED",
    "Client", "Counters", "DEFAULT_LIMITS", "DEFAULT_OFFLINE_QUEUE_BYTES", "DEFAULT_OFFLINE_QUEUE_MESSAGES", "DEFAULT_PATH",
    "DROPPED", "Dropped", "ERROR", "Ext", "FrameDecoder", "GOING_AWAY", "HANDLER_FAILED", "HANDSHAKE_MAX_FRAME_BYTES", "HELLO",
    "INITIAL_RECONNECT_DELAY", "MAX_HEADER_NAME_BYTES", "MAX_QUEUE_NAME_BYTES", "MAX_RECONNECT_DELAY", "MESSAGE", "Message",
    "NEW_SOCKET_JITTER", "NOT_A_REQUEST", "OfflineQueue", "PING", "PONG", "PROTOCOL_VERSION", "PUBLISH", "REFUSED_CODE_POINTS",
    "REPLY", "REQUEST_TIMEOUT", "RESPOND", "Reply", "SOCKET_POLL_INTERVAL", "STABLE_SESSION_SECONDS", "STATS", "STATS_REQUEST",
    "SUBSCRIBE", "SUBSCRIBED", "SockbusError", "Subscription", "UNSUBSCRIBE", "UNTRUSTED_BROKER", "USAGE", "WELCOME",
    "check_headers", "check_pattern", "check_queue_name", "check_topic", "connect", "decode_broker_message", "encode_publish",
    "encode_respond", "escape_controls", "frame", "header_name_problem", "main", "pattern_matches", "pattern_problem",
    "queue_name_problem", "reconnect_delay", "socket_path", "topic_problem",
]
