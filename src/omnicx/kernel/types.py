"""Protocols shared across packages."""

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from omnicx.kernel.messages import Event


class UnitOfWork(Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def raise_event(self, event: Event) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class HasNow(Protocol):
    def now(self) -> datetime: ...
