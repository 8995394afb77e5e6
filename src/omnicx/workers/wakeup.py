"""Waking a worker in another process: one datagram on a Linux abstract Unix socket.

The server sends without ever blocking (a full buffer or a worker not yet listening only
means the worker finds the work on its next idle poll); the worker waits with `select`.
"""

import contextlib
import os
import select
import socket


def new_address() -> str:
    return f"\0omnicx-worker-{os.getpid()}-{os.urandom(6).hex()}"


class WakeupSender:
    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def set(self) -> None:
        # Nobody listening yet, or a full buffer: the worker has plenty to wake it anyway.
        with contextlib.suppress(OSError):
            self._socket.sendto(b"!", self.address)

    def clear(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        return False

    def is_set(self) -> bool:
        return False

    def close(self) -> None:
        self._socket.close()


class WakeupListener:
    def __init__(self, address: str) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._socket.bind(address)
        self._pending = False

    def set(self) -> None:
        self._pending = True

    def clear(self) -> None:
        self._pending = False
        self._drain()

    def is_set(self) -> bool:
        return self._pending

    def wait(self, timeout: float | None = None) -> bool:
        if self._pending:
            return True
        readable, _, _ = select.select([self._socket], [], [], timeout)
        if readable:
            self._drain()
            return True
        return False

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._socket.recv(64):
                pass

    def close(self) -> None:
        self._socket.close()
