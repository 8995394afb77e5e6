"""Time-ordered identifiers: sorting them sorts by creation time, even within a millisecond."""

import os
import threading
import time

_lock = threading.Lock()
_last = 0
_RAND_BITS = 74
_RAND_MASK = (1 << _RAND_BITS) - 1
_RAND_B_MASK = (1 << 62) - 1
_POOL_BYTES = 10 * 400
"""Random bytes read from the system at a time: ten per id (one read per 400 ids instead of
a system call each)."""
_pool = b""
_taken = 0


def _forget_pool() -> None:
    """A forked child must not hand out its parent's remaining random bytes again."""
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def new_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then 74 random bits, increasing in this process.

    The order is kept on the 122 meaningful bits; the version and variant bits are laid in
    around them afterwards, so they never disturb it.
    """
    global _last, _pool, _taken
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if _taken >= len(_pool):
            _pool, _taken = os.urandom(_POOL_BYTES), 0
        rand = int.from_bytes(_pool[_taken : _taken + 10], "big") >> 6
        _taken += 10
        value = (ms & 0xFFFFFFFFFFFF) << _RAND_BITS | rand
        if value <= _last:
            value = _last + 1
        _last = value
    rand = value & _RAND_MASK
    laid = (value >> _RAND_BITS) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
    h = (laid | rand & _RAND_B_MASK).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
