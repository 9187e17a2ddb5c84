"""Finding and dialling the broker: the socket path, who listens there, hello and welcome (PROTOCOL.md sections 1, 3.1, 3.2)."""

import os
import socket

from .errors import BROKER_UNAVAILABLE, BROKER_UNRESPONSIVE, CONNECTION_CLOSED, SockbusError
from .limits import HANDSHAKE_MAX_FRAME_BYTES
from .session import Session
from .wire import ERROR, HELLO, PROTOCOL_VERSION, WELCOME, FrameDecoder, decode_broker_message, frame, pack

# What a client asks the kernel for as its socket send buffer.
SEND_BUFFER_BYTES = 1024 * 1024

DEFAULT_PATH = "/tmp/sockbus.sock"


def socket_path(path=None):
    """The broker's socket: the argument, else $SOCKBUS_SOCKET, else /tmp/sockbus.sock (section 1)."""
    return path or os.environ.get("SOCKBUS_SOCKET") or DEFAULT_PATH


def open_session(path, name, no_echo, trust, handshake_timeout, send_timeout, take_token):
    """Connects, checks who listens (trust, a BrokerTrust), and completes the handshake: a Session, or a SockbusError.

    send_timeout bounds each write afterwards: writes that block this long mean a broker
    that does not read, taken for hung. take_token gives the session's pings their tokens.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # A larger kernel send buffer (Linux caps the request at net.core.wmem_max, then doubles it): bursts of
        # publishes wait in the kernel instead of in send() on the broker. Best effort.
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        except OSError:
            pass
        sock.settimeout(handshake_timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise SockbusError(BROKER_UNAVAILABLE, "no broker is listening on %s (is sockbusd running?)" % path)
        except PermissionError:
            raise SockbusError(BROKER_UNAVAILABLE, "permission denied connecting to %s" % path)
        except OSError as error:
            raise SockbusError(BROKER_UNAVAILABLE, "cannot connect to %s: %s" % (path, error))
        trust.check(sock, path)
        hello = {"version": PROTOCOL_VERSION}
        if name:
            hello["name"] = name
        if no_echo:
            hello["noEcho"] = True
        decoder = FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES)
        try:
            sock.sendall(frame(pack([HELLO, hello])))
            first = _read_first_message(sock, decoder, path)
        except socket.timeout:
            raise SockbusError(BROKER_UNRESPONSIVE, "the broker on %s did not answer hello within %d ms; it may be hung" % (path, handshake_timeout * 1000))
        except OSError as error:
            raise SockbusError(CONNECTION_CLOSED, "the connection to the broker on %s broke during the handshake: %s" % (path, error))
        if first[0] == ERROR:
            raise SockbusError(first[1], first[2], first[3])
        if first[0] != WELCOME:
            raise SockbusError("INVALID_MESSAGE", "expected a welcome from the broker on %s, got kind %r" % (path, first[0]))
        sock.settimeout(send_timeout)
        # Frames read together with the welcome stay in the decoder, for the session's reader.
        return Session(sock, decoder, first[1], path, send_timeout, take_token)
    except BaseException:
        sock.close()
        raise


def _read_first_message(sock, decoder, path):
    while True:
        body = decoder.next_body()
        if body is not None:
            return decode_broker_message(body)
        chunk = sock.recv(65536)
        if not chunk:
            raise SockbusError(CONNECTION_CLOSED, "the broker on %s closed the connection during the handshake" % path)
        decoder.push(chunk)
