"""News from the worker process to the server's live streams: one datagram per item on a
Linux abstract Unix socket (with a Redis live broker, both processes use Redis instead).

A message the worker sent, a delivery it recorded: agents watching `/api/stream` and web-chat
visitors hear of it at once. The worker never blocks on it: news that cannot be handed over
(the server is restarting, the buffer is full) is dropped, and a stream that misses it
catches up from the database on its next read.
"""

import contextlib
import logging
import socket
import threading
from typing import Any

import orjson

from omnicx.channels.webchat import LocalBroadcaster

log = logging.getLogger("omnicx.worker")

MAX_DATAGRAM = 60_000


class NewsSender:
    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def send(self, topic: str, payload: dict[str, Any]) -> None:
        data = orjson.dumps({"topic": topic, "payload": payload})
        if len(data) > MAX_DATAGRAM:
            log.warning("%s news of %d bytes is too large to hand over", topic, len(data))
            return
        with contextlib.suppress(OSError):
            self._socket.sendto(data, self.address)

    def close(self) -> None:
        self._socket.close()


class NewsListener:
    """In the server's process: hands each item to the local streams."""

    def __init__(self, address: str, live: LocalBroadcaster) -> None:
        self.address = address
        self._live = live
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self.address)
        self._socket.settimeout(0.5)
        self._thread = threading.Thread(
            target=self._run, args=(self._socket,), name="omnicx-news", daemon=True
        )
        self._thread.start()

    def _run(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = sock.recv(MAX_DATAGRAM + 1)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                item = orjson.loads(data)
                self._live.deliver(str(item["topic"]), dict(item["payload"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("unreadable news from the worker dropped")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._socket is not None:
            self._socket.close()
