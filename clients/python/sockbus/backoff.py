"""When to dial again after a failure (PROTOCOL.md section 8): the backoff, and noticing a new socket file."""

import os
import random
import time

# b = min(2000, 20 * 2^n) ms after the n-th failure in a row, a delay in [b/2, b).
INITIAL_RECONNECT_DELAY = 0.02
MAX_RECONNECT_DELAY = 2.0
SOCKET_POLL_INTERVAL = 0.025
# A new socket file is dialled after a delay in [0, 100) ms, so a restart's clients arrive spread out.
NEW_SOCKET_JITTER = 0.1
# A session shorter than this counts as a failed attempt: a broker that welcomes and then breaks is not redialled in a tight loop.
STABLE_SESSION_SECONDS = 1.0


def reconnect_delay(attempt, rand=random.random):
    """Seconds to wait after the attempt-th failure in a row (from 0): uniform in [b/2, b), b = min(2 s, 20 ms * 2^n) (section 8)."""
    bound = min(MAX_RECONNECT_DELAY, INITIAL_RECONNECT_DELAY * 2 ** min(attempt, 30))
    return bound / 2 + rand() * bound / 2


def socket_file_identity(path):
    """Which socket file is at the path, or None when there is none: a new broker makes a new one.

    The change time is part of it because a file system may give the new file the inode the old one had.
    """
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino, status.st_ctime_ns)


def wait_before_retry(delay, path, failed_file, wake, stopped, rand):
    """Waits out the backoff, looking for a new socket file every 25 ms; one that appears is dialled after [0, 100) ms.

    wake is the threading.Event that close() sets; stopped() says the client closed.
    """
    deadline = time.monotonic() + delay
    watching = True
    while not stopped():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        wake.wait(min(remaining, SOCKET_POLL_INTERVAL) if watching else remaining)
        if watching:
            current = socket_file_identity(path)
            if current is not None and current != failed_file:
                watching = False
                deadline = min(deadline, time.monotonic() + rand() * NEW_SOCKET_JITTER)
