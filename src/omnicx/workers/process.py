"""The worker in a child process, so resolving identities runs on its own core while the
server's process answers requests (Python runs one thread at a time per process).

The parent stops the child with SIGTERM (it finishes the step it is in) and starts a new one
if it dies; acknowledged work waits safely in the queue meanwhile. A child whose parent was
killed outright stops by itself. No lock is shared between the two processes: a process
killed while holding one would leave the other stuck.
"""

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from omnicx.bootstrap import build
from omnicx.channels.webchat import LocalBroadcaster
from omnicx.config import Settings
from omnicx.workers.memory import tune_gc
from omnicx.workers.news import NewsListener, NewsSender
from omnicx.workers.runner import Worker
from omnicx.workers.wakeup import WakeupListener, WakeupSender, new_address

log = logging.getLogger("omnicx.worker")
_context = multiprocessing.get_context("spawn")


class WorkerProcess:
    def __init__(self, settings: Settings, live: LocalBroadcaster | None = None) -> None:
        """`live`: the server's streams, which then hear the worker's news (unless a Redis
        live broker carries it)."""
        self.settings = settings
        self.address = new_address()
        self.wakeup = WakeupSender(self.address)
        self._stopping = threading.Event()
        self._process: Any = None
        self._monitor: threading.Thread | None = None
        self._news: NewsListener | None = None
        self.news_address: str | None = None
        if live is not None and not settings.live_broker_url:
            self.news_address = new_address()
            self._news = NewsListener(self.news_address, live)

    def start(self) -> None:
        if self._news is not None:
            self._news.start()
        self._spawn()
        self._monitor = threading.Thread(
            target=self._watch, name="omnicx-worker-monitor", daemon=True
        )
        self._monitor.start()

    def _spawn(self) -> None:
        self._process = _context.Process(
            target=_main,
            args=(self.settings.model_dump(), self.address, self.news_address),
            name="omnicx-worker",
            daemon=True,
        )
        self._process.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._process.join(1.0)
            code = self._process.exitcode
            if code is not None and not self._stopping.is_set():
                if code == 0:
                    return  # stopped on purpose (the whole group was told to stop)
                log.error("worker process exited with %s; starting a new one", code)
                self._spawn()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        process = self._process
        if process is not None:
            if process.is_alive():
                process.terminate()
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(5)
            if self._monitor is not None:
                self._monitor.join(timeout)
        if self._news is not None:
            self._news.stop()
        self.wakeup.close()


def _main(values: dict[str, Any], address: str, news_address: str | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    parent = os.getppid()

    def orphaned() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=orphaned, name="omnicx-parent-watch", daemon=True).start()
    services = build(Settings(**values))
    tune_gc()
    listener = WakeupListener(address)
    services.wakeup = listener
    news = NewsSender(news_address) if news_address else None
    if news is not None:
        services.live.forward = news.send
    try:
        Worker(services, stop=stop).run()
    finally:
        listener.close()
        if news is not None:
            news.close()
        services.close()
