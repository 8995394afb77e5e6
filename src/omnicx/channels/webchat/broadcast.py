"""News of committed changes, fanned out to the open streams of this process or of every server.

    Broadcaster          the port: `publish(topic, payload)` from any thread, `subscribe(topics)`
    │                    from the event loop, and presence (`seen` / `last_seen`) of visitors
    ├── LocalBroadcaster one process: subscribers are asyncio queues fed thread-safely
    └── RedisBroadcaster several servers (and the worker process): PUBLISH on Redis, one
                         listener thread per process feeds the local subscribers; presence is a
                         Redis key with an expiry

Topics: `agents` (the agents' live stream) and `visitor:<anonymous id>` (a web-chat visitor's
stream). Payloads are small JSON-able dicts holding ids, never message bodies: a stream reader
fetches what it may see through the database.

A subscriber that falls more than `QUEUE_LIMIT` items behind is cut off (`lagged`), so one slow
reader never holds memory for everyone; its client reconnects and catches up from the database.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

log = logging.getLogger("omnicx.live")

AGENTS = "agents"
QUEUE_LIMIT = 1000
_CHANNEL_PREFIX = "omnicx:live:"
_PRESENCE_PREFIX = "omnicx:presence:"


def visitor_topic(anonymous_id: str) -> str:
    return f"visitor:{anonymous_id}"


class Subscription:
    """One reader's queue; created on the event loop that reads it."""

    def __init__(self, topics: frozenset[str], loop: asyncio.AbstractEventLoop) -> None:
        self.topics = topics
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.lagged = False

    def offer(self, payload: dict[str, Any]) -> None:
        """Called on the subscriber's loop."""
        if self.lagged:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.lagged = True
            return
        self.queue.put_nowait(payload)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next payload, or None when `timeout` seconds pass without one."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def ready(self, limit: int) -> list[dict[str, Any]]:
        """The payloads already waiting, up to `limit`, without waiting for more."""
        found: list[dict[str, Any]] = []
        while len(found) < limit and not self.queue.empty():
            found.append(self.queue.get_nowait())
        return found


class Broadcaster(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None: ...
    def subscribe(self, topics: Iterable[str]) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...
    def seen(self, key: str, ttl_seconds: float) -> None: ...
    def last_seen(self, key: str) -> float | None: ...
    def close(self) -> None: ...


class LocalBroadcaster:
    """Fan-out inside one process; `publish` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._presence: dict[str, float] = {}
        self.forward: Callable[[str, dict[str, Any]], None] | None = None
        """Where news goes instead when this process serves no streams (a worker process
        hands its news to the server's process)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.forward is not None:
            self.forward(topic, payload)
            return
        self.deliver(topic, payload)

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(topic, ()))
        for subscription in targets:
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, payload)
            except RuntimeError:  # its loop has closed; it unsubscribes on its way out
                continue

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        subscription = Subscription(frozenset(topics), asyncio.get_running_loop())
        with self._lock:
            for topic in subscription.topics:
                self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                members = self._subscribers.get(topic)
                if members is not None:
                    members.discard(subscription)
                    if not members:
                        del self._subscribers[topic]

    def subscribers(self, topic: str) -> int:
        with self._lock:
            return len(self._subscribers.get(topic, ()))

    def seen(self, key: str, ttl_seconds: float) -> None:
        with self._lock:
            self._presence[key] = time.time()
            if len(self._presence) > 100_000:
                horizon = time.time() - ttl_seconds
                self._presence = {k: v for k, v in self._presence.items() if v >= horizon}

    def last_seen(self, key: str) -> float | None:
        with self._lock:
            return self._presence.get(key)

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()


class RedisBroadcaster(LocalBroadcaster):
    """Publishes through Redis pub/sub so every server's streams see every process's news.

    The listener thread starts on the first subscription (the worker process, which only
    publishes, never starts one) and reconnects after a lost connection.
    """

    def __init__(self, url: str) -> None:
        import redis  # imported here: only deployments that name a broker need it loaded

        super().__init__()
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._url = url
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            self._redis.publish(_CHANNEL_PREFIX + topic, orjson.dumps(payload))
        except Exception:
            # The change is committed; a stream that misses it catches up from the database.
            log.warning("live broker unreachable; %s news stays in this process", topic)
            self.deliver(topic, payload)

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        subscription = super().subscribe(topics)
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(
                    target=self._listen, name="omnicx-live-listener", daemon=True
                )
                self._listener.start()
        return subscription

    def _listen(self) -> None:
        import redis

        while not self._stopping.is_set():
            client = redis.Redis.from_url(self._url, socket_connect_timeout=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.psubscribe(_CHANNEL_PREFIX + "*")
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    channel = message["channel"]
                    topic = (channel.decode() if isinstance(channel, bytes) else str(channel))[
                        len(_CHANNEL_PREFIX) :
                    ]
                    self.deliver(topic, orjson.loads(message["data"]))
            except Exception:
                if not self._stopping.is_set():
                    log.warning("live broker connection lost; reconnecting", exc_info=True)
                    time.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
                    client.close()

    def seen(self, key: str, ttl_seconds: float) -> None:
        super().seen(key, ttl_seconds)
        try:
            self._redis.set(_PRESENCE_PREFIX + key, str(time.time()), ex=max(1, int(ttl_seconds)))
        except Exception:
            log.warning("live broker unreachable; presence kept in this process only")

    def last_seen(self, key: str) -> float | None:
        local = super().last_seen(key)
        try:
            stored = self._redis.get(_PRESENCE_PREFIX + key)
        except Exception:
            return local
        if stored is None:
            return local
        remote = float(stored.decode() if isinstance(stored, bytes) else stored)
        return max(remote, local or 0.0)

    def close(self) -> None:
        self._stopping.set()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=2.0)
        with contextlib.suppress(Exception):
            self._redis.close()
        super().close()


def build_broadcaster(url: str | None) -> LocalBroadcaster:
    """In-process fan-out, or Redis pub/sub when `url` names a broker (redis://…)."""
    if url:
        return RedisBroadcaster(url)
    return LocalBroadcaster()
