"""Time-ordered identifiers: sorting them sorts by creation time, even within a millisecond."""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, increasing in this process."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & 0xFFFFFFFFFFFF) << 80 | int.from_bytes(os.urandom(10), "big") >> 2
    with _lock:
        if value <= _last:
            value = _last + 1
        _last = value
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))
