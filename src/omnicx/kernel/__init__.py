"""The shared kernel: ids, clocks, messages, the message bus and the error hierarchy.

Standard library only; every other package may import it.
"""

from omnicx.kernel.bus import MessageBus
from omnicx.kernel.clock import Clock, FixedClock, SystemClock
from omnicx.kernel.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound
from omnicx.kernel.ids import new_id
from omnicx.kernel.messages import Command, Event, Query, Settle

__all__ = [
    "Clock",
    "Command",
    "Conflict",
    "DomainError",
    "Event",
    "FixedClock",
    "Forbidden",
    "Gone",
    "Invalid",
    "MessageBus",
    "NotFound",
    "Query",
    "Settle",
    "SystemClock",
    "new_id",
]
