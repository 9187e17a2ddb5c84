"""The offline queue: publishes that wait for a connection (PROTOCOL.md section 8)."""

DEFAULT_OFFLINE_QUEUE_MESSAGES = 10000
DEFAULT_OFFLINE_QUEUE_BYTES = 8 * 1024 * 1024


class OfflineQueue:
    """Publishes waiting for a connection, oldest first, bounded in count and bytes.

    When full, the oldest give way to the newest and are counted (as the
    TypeScript client's client/offline-queue.ts does).
    """

    def __init__(self, max_messages, max_bytes):
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._frames = []
        self._head = 0
        self.bytes = 0

    def __len__(self):
        return len(self._frames) - self._head

    def push(self, item):
        """Adds a frame; returns how many were dropped to make room (1 for a frame that can never fit)."""
        dropped = 0
        while len(self) > 0 and (len(self) + 1 > self.max_messages or self.bytes + len(item) > self.max_bytes):
            self._shift()
            dropped += 1
        if len(item) > self.max_bytes or self.max_messages == 0:
            return dropped + 1
        self._frames.append(item)
        self.bytes += len(item)
        return dropped

    def drain(self):
        """Removes and returns everything, oldest first."""
        frames = self._frames[self._head:]
        self._frames, self._head, self.bytes = [], 0, 0
        return frames

    def _shift(self):
        oldest = self._frames[self._head]
        self._frames[self._head] = None
        self._head += 1
        self.bytes -= len(oldest)
        # Compact now and then so the list does not grow with every drop.
        if self._head > 1024 and self._head * 2 > len(self._frames):
            self._frames = self._frames[self._head:]
            self._head = 0
