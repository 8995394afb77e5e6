"""Time-ordered identifiers: sorting them sorts by creation time, even within a millisecond."""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0
_RAND_BITS = 74
_RAND_MASK = (1 << _RAND_BITS) - 1


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then 74 random bits, increasing in this process.

    The order is kept on the 122 meaningful bits; the version and variant bits are laid in
    around them afterwards, so they never disturb it.
    """
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & 0xFFFFFFFFFFFF) << _RAND_BITS | int.from_bytes(os.urandom(10), "big") >> 6
    with _lock:
        if value <= _last:
            value = _last + 1
        _last = value
    ms_part = value >> _RAND_BITS
    rand = value & _RAND_MASK
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    laid = ms_part << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=laid))
