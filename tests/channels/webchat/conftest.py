"""A real server on loopback: server-sent event streams are read over HTTP."""

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from omnicx.asgi import app_for
from omnicx.bootstrap import Services


@pytest.fixture
def served(services: Services) -> Iterator[str]:
    config = uvicorn.Config(app_for(services, run_worker=False), port=0, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        assert time.time() < deadline, "the test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
