"""The worker in a child process, so resolving identities runs on its own core while the
server's process answers requests (Python runs one thread at a time per process).

The parent restarts a child that dies; acknowledged work waits safely in the queue meanwhile.
"""

import logging
import multiprocessing
import threading
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from omnicx.bootstrap import build
from omnicx.config import Settings
from omnicx.workers.runner import Worker
from omnicx.workers.wakeup import WakeupListener, WakeupSender, new_address

log = logging.getLogger("omnicx.worker")
_context = multiprocessing.get_context("spawn")


class WorkerProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = new_address()
        self.wakeup = WakeupSender(self.address)
        self._stop: ProcessEvent = _context.Event()
        self._process: Any = None
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._monitor = threading.Thread(
            target=self._watch, name="omnicx-worker-monitor", daemon=True
        )
        self._monitor.start()

    def _spawn(self) -> None:
        self._process = _context.Process(
            target=_main,
            args=(self.settings.model_dump(), self.address, self._stop),
            name="omnicx-worker",
            daemon=True,
        )
        self._process.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._process.join(1.0)
            if self._process.exitcode is not None and not self._stop.is_set():
                log.error(
                    "worker process exited with %s; starting a new one", self._process.exitcode
                )
                self._spawn()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.wakeup.set()
        if self._monitor is not None:
            self._monitor.join(timeout)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)


def _main(values: dict[str, Any], address: str, stop: ProcessEvent) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    services = build(Settings(**values))
    listener = WakeupListener(address)
    services.wakeup = listener
    try:
        Worker(services, stop=stop).run()
    finally:
        listener.close()
        services.close()
