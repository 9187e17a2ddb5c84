"""Subscriptions (PROTOCOL.md section 3.4): each one's state, and the set the client holds across reconnects."""

from .names import pattern_matches
from .wire import SUBSCRIBE, frame, pack


class Subscription:
    """A pattern and its callback. state: "pending" until the broker's subscribed frame (section 3.4),
    then "active"; "ended" once unsubscribed or refused (error then says why)."""

    def __init__(self, client, subscription_id, pattern, callback, queue):
        self.id = subscription_id
        self.pattern = pattern
        self.callback = callback
        self.queue = queue
        self.state = "pending"
        self.error = None
        self._client = client

    @property
    def active(self):
        return self.state == "active"

    def unsubscribe(self):
        self._client.unsubscribe(self)

    def subscribe_frame(self):
        if self.queue is None:
            return frame(pack([SUBSCRIBE, self.id, self.pattern]))
        return frame(pack([SUBSCRIBE, self.id, self.pattern, {"queue": self.queue}]))


class Subscriptions:
    """The subscriptions the client holds, by id. Every method: call with the client's state lock held."""

    def __init__(self):
        self._held = {}

    def add(self, subscription):
        self._held[subscription.id] = subscription

    def remove(self, subscription):
        """Ends a subscription the application gave up; False when it was not held (ended already)."""
        if self._held.pop(subscription.id, None) is None:
            return False
        subscription.state = "ended"
        return True

    def acknowledge(self, subscription_id):
        """The broker's subscribed frame: plain deliveries may go to it from now on (section 3.7)."""
        subscription = self._held.get(subscription_id)
        if subscription is not None and subscription.state == "pending":
            subscription.state = "active"

    def refuse(self, subscription_id, error):
        """The broker holds no such subscription (an error naming 'sub', section 3.8): forgotten for good,
        not subscribed again after a reconnect. Returns it, or None when it was not held."""
        subscription = self._held.pop(subscription_id, None)
        if subscription is not None:
            subscription.state = "ended"
            subscription.error = error
        return subscription

    def subscribe_again(self):
        """The subscribe frames for a new session, in order; each is pending until that session's subscribed frame."""
        for subscription in self._held.values():
            subscription.state = "pending"
        return [subscription.subscribe_frame() for subscription in self._held.values()]

    def receivers(self, info, topic):
        """Section 3.7: with 'sub', that subscription only; without, each matching plain subscription already subscribed."""
        if "sub" in info:
            held = self._held.get(info["sub"])
            return [held] if held is not None else []
        return [s for s in self._held.values() if s.queue is None and s.state == "active" and pattern_matches(s.pattern, topic)]
