"""Group commit: callers on many threads hand over one item each; one thread handles whatever
has gathered meanwhile in a single call (one transaction, one durable commit for the lot) and
hands each caller its own result, or the error that refused its item. A caller returns only
once its item is handled, so what it acknowledges is durable. An item that arrives alone is
handled at once: batches form only while the previous one is being written.
"""

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

HandleMany = Callable[[Sequence[T]], list[R | Exception]]
"""Handles a batch: one result (or the exception that refused it) per item, in order."""

_STOP = object()


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        handle_many: HandleMany[T, R],
        *,
        name: str,
        log: logging.Logger,
        max_batch: int = 64,
    ) -> None:
        self._handle_many = handle_many
        self._name = name
        self._log = log
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, item: T) -> R:
        """Handle `item` (with whatever else is waiting) and return its result, or raise the
        error that refused it. Once closed, or on the handling thread itself, the item is
        handled alone at once."""
        if self._closed or threading.current_thread() is self._thread:
            return _unwrap(self._handle_many([item])[0])
        future: Future[R] = Future()
        self._start()
        self._queue.put((item, future))
        return future.result()

    def hand_over(self, item: T) -> "Future[R] | None":
        """Hand `item` over without waiting: the future of its result, or None once closed
        (the caller then `submit`s it, to be handled alone)."""
        if self._closed:
            return None
        future: Future[R] = Future()
        self._start()
        self._queue.put((item, future))
        return future

    def waiting(self) -> int:
        """Items handed over and not taken into a batch yet."""
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(more)
            self._handle(batch)

    def _handle(self, batch: list[object]) -> None:
        pairs: list[tuple[T, Future[R]]] = batch  # type: ignore[assignment]
        try:
            results = self._handle_many([item for item, _ in pairs])
        except Exception as error:  # the database went away: every caller hears why
            self._log.exception("%s: a batch of %d failed", self._name, len(pairs))
            results = [error] * len(pairs)
        for (_, future), result in zip(pairs, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def _unwrap(result: R | Exception) -> R:
    if isinstance(result, Exception):
        raise result
    return result
