"""What a welcome announces (section 3.2), and the bounds the client keeps to until one does."""

# What a version 2 welcome announces, used until one arrives and for keys it leaves out.
DEFAULT_LIMITS = {
    "maxFrameBytes": 1048576,
    "maxBrokerFrameBytes": 1048576 + 1024,
    "maxTopicBytes": 256,
    "maxPatternTokens": 16,
    "maxPatternWildcards": 3,
    "maxHeaderEntries": 64,
    "maxHeaderBytes": 16384,
}
# Fixed by sections 4.3 and 4.4, not announced.
MAX_QUEUE_NAME_BYTES = 64
MAX_HEADER_NAME_BYTES = 256

# Before the welcome says maxBrokerFrameBytes, no frame is trusted past this: a welcome is a few hundred bytes.
HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024


def limit(limits, key):
    """limits[key] when it is an integer, else the default: a welcome's odd value never disables a check."""
    value = (limits or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_LIMITS[key]
