"""An in-process message bus: events go to every subscriber, in registration order.

Handlers run inside the caller's unit of work, so anything they write (outbox rows above all)
commits or rolls back with the change that raised the event.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from omnicx.kernel.messages import Event

Handler = Callable[[Any, Any], None]
"""A handler takes (event, unit of work)."""


class MessageBus:
    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, events: Iterable[Event], uow: object) -> None:
        for event in events:
            for handler in self._handlers.get(type(event), ()):
                handler(event, uow)
