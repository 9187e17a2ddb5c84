"""When to dial again after a failure (PROTOCOL.md section 8)."""

import random

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

