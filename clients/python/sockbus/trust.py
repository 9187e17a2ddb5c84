"""Who may run the broker (PROTOCOL.md section 1): root, this user, or the one broker_uid names; asked of the kernel."""

import os
import pwd
import socket
import struct
import sys

from .errors import UNTRUSTED_BROKER, SockbusError

BROKER_UID_VARIABLE = "SOCKBUS_BROKER_UID"


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _describe_user(uid):
    name = _user_name(uid)
    return "uid %d" % uid if name is None else "%s (uid %d)" % (name, uid)


def _resolve_broker_uid(broker_uid, option_name):
    """The uid trusted to run the broker besides root and ourselves: broker_uid, else $SOCKBUS_BROKER_UID; (uid, label) or (None, None)."""
    given, label = broker_uid, option_name
    if given is None:
        given, label = os.environ.get(BROKER_UID_VARIABLE) or None, "$" + BROKER_UID_VARIABLE
    if given is None:
        return None, None
    if isinstance(given, int) or str(given).isdigit():
        return int(given), label
    try:
        return pwd.getpwnam(given).pw_uid, label
    except KeyError:
        raise SockbusError(UNTRUSTED_BROKER, '%s "%s" names no user on this system' % (label, given))


class BrokerTrust:
    """The check made on every connection before hello: anyone may bind the socket path while the broker is down.

    option_name is what the refusal tells the user to pass (broker_uid=, or --broker-uid on the command line).
    """

    def __init__(self, broker_uid, option_name):
        # Raises UNTRUSTED_BROKER at once for a user name that names nobody.
        self.uid, self._label = _resolve_broker_uid(broker_uid, option_name)
        self._option_name = option_name
        self._warned_weak_check = False

    def check(self, sock, path):
        """Raises UNTRUSTED_BROKER unless root, this user or the trusted uid listens on the connected sock."""
        if hasattr(socket, "SO_PEERCRED"):
            credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", credentials)
        else:
            # Weaker: the file's owner is whoever bound it, but it could change between this and connect().
            uid = os.lstat(path).st_uid
            if not self._warned_weak_check:
                self._warned_weak_check = True
                print("sockbus: warning: cannot ask the kernel who runs the broker on %s (no SO_PEERCRED here); "
                      "trusting it by the socket file's owner instead, a weaker check" % path, file=sys.stderr)
        if uid in (0, os.getuid(), self.uid):
            return
        runs = "the broker on %s runs as %s" % (path, _describe_user(uid))
        if self.uid is None:
            raise SockbusError(UNTRUSTED_BROKER, "%s, not root or you; pass %s to trust it" % (runs, self._option_name))
        raise SockbusError(UNTRUSTED_BROKER, "%s, not %s as %s asks, nor root or you" % (runs, _describe_user(self.uid), self._label))
