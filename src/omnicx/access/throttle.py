"""Rate limits (the `limits` package): named rules, each a list like `"10/second;300/minute"`.

Counters live in the storage a URI names: `memory://` (one process; the default) or a
shared store such as `redis://host:6379/0` when several servers answer the same clients.
A refused hit raises `RateLimited` with the seconds until the window that refused it resets.
When the shared store does not answer, requests are let through (and a warning is logged at
most once a minute): a rate limiter that is down must not take the API down with it.
"""

import logging
import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from omnicx.access.model import RateLimited

log = logging.getLogger("omnicx.access")


class Throttle:
    def __init__(self, storage_uri: str, rules: Mapping[str, str]) -> None:
        storage = storage_from_string(storage_uri)
        if not isinstance(storage, Storage):
            raise ValueError(f"rate-limit storage {storage_uri!r} is asynchronous; drop async+")
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.rules: dict[str, list[RateLimitItem]] = {
            name: parse_many(spec) for name, spec in rules.items() if spec.strip()
        }
        self._warned_at = -60.0
        self.blocking = not isinstance(self.storage, MemoryStorage)
        """Whether a hit waits on the network (async callers then hit from a thread)."""

    def hit(self, rule: str, key: str) -> None:
        """Count one request of `key` under `rule`; raise `RateLimited` when over a limit."""
        for item in self.rules.get(rule, ()):
            try:
                allowed = self.limiter.hit(item, rule, key)
                reset = (
                    0.0 if allowed else self.limiter.get_window_stats(item, rule, key).reset_time
                )
            except Exception as error:  # the store is down: let the request through
                self._store_failed(error)
                return
            if not allowed:
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"too many requests: the limit is {item}; retry later", wait)

    def _store_failed(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            log.warning("rate-limit store does not answer; requests pass unlimited: %s", error)

    def reset(self) -> None:
        self.storage.reset()
