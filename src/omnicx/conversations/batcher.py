"""Group commit for inbound messages.

Webhooks, the SMTP listener and web chat hand each message over from their own threads; one
thread stores whatever has gathered meanwhile in a single transaction (one commit and one disk
flush for the lot, each message in its own savepoint) and hands every caller its own receipt
or error. A caller still returns only once its message is committed, so a provider's webhook
is acknowledged exactly when the message is durable. A message that arrives alone is stored
at once: batches form only while the previous one is being written.
"""

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from omnicx.conversations.model import InboundMessage, Receipt

log = logging.getLogger("omnicx.conversations")

ReceiveMany = Callable[[Sequence[InboundMessage]], list[Receipt | Exception]]

_STOP = object()


class InboundBatcher:
    def __init__(self, receive_many: ReceiveMany, *, max_batch: int = 64) -> None:
        self._receive_many = receive_many
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def receive(self, inbound: InboundMessage) -> Receipt:
        """Store `inbound` (with whatever else is waiting) and return its receipt, or raise
        the error that refused it."""
        if self._closed or threading.current_thread() is self._thread:
            return _unwrap(self._receive_many([inbound])[0])
        future: Future[Receipt] = Future()
        self._start()
        self._queue.put((inbound, future))
        return future.result()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="omnicx-inbound", daemon=True
                )
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
            self._store(batch)

    def _store(self, batch: list[object]) -> None:
        pairs: list[tuple[InboundMessage, Future[Receipt]]] = batch  # type: ignore[assignment]
        try:
            results = self._receive_many([inbound for inbound, _ in pairs])
        except Exception as error:  # the database went away: every caller hears why
            log.exception("inbound batch of %d failed", len(pairs))
            results = [error] * len(pairs)
        for (_, future), result in zip(pairs, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def close(self, timeout: float = 10.0) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)


def _unwrap(result: Receipt | Exception) -> Receipt:
    if isinstance(result, Exception):
        raise result
    return result
