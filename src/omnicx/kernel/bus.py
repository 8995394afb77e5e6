"""An in-process message bus: events go to every subscriber, in registration order.

Handlers run inside the caller's unit of work, so anything they write (outbox rows above all)
commits or rolls back with the change that raised the event.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from omnicx.kernel.messages import Event, Query

Handler = Callable[[Any, Any], None]
"""A handler takes (event, unit of work)."""

Answerer = Callable[[Any, Any], Any]
"""An answerer takes (query, unit of work) and returns its domain's part of the answer."""


class MessageBus:
    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)
        self._answerers: dict[type[Query], list[Answerer]] = defaultdict(list)

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def subscribed(self, event_type: type[Event]) -> bool:
        """Whether anyone listens: a hot path skips building events nobody reads."""
        return bool(self._handlers.get(event_type))

    def publish(self, events: Iterable[Event], uow: object) -> None:
        for event in events:
            for handler in self._handlers.get(type(event), ()):
                handler(event, uow)

    def answer(self, query_type: type[Query], answerer: Answerer) -> None:
        """Register a domain's answer to a query; domains added later plug in the same way."""
        self._answerers[query_type].append(answerer)

    def ask(self, query: Query, uow: object) -> list[Any]:
        """Every registered domain's answer, in registration order (None answers left out)."""
        answers = (answerer(query, uow) for answerer in self._answerers.get(type(query), ()))
        return [a for a in answers if a is not None]
