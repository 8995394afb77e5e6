"""The worker process's news reaches the server's streams over an abstract Unix socket."""

import asyncio

from omnicx.channels.webchat import AGENTS, LocalBroadcaster
from omnicx.config import Settings
from omnicx.workers.news import NewsListener, NewsSender
from omnicx.workers.process import WorkerProcess
from omnicx.workers.wakeup import new_address


def test_news_sent_by_the_worker_reaches_a_stream_of_the_server() -> None:
    live = LocalBroadcaster()
    address = new_address()
    listener = NewsListener(address, live)
    listener.start()
    worker_side = LocalBroadcaster()
    sender = NewsSender(address)
    worker_side.forward = sender.send

    async def read() -> list[dict[str, object] | None]:
        subscription = live.subscribe([AGENTS])
        worker_side.publish(AGENTS, {"type": "message.sent", "message_id": "m1"})
        worker_side.publish("visitor:a1", {"type": "message.sent", "message_id": "m2"})
        first = await subscription.next(5.0)
        second = await subscription.next(0.3)
        live.unsubscribe(subscription)
        return [first, second]

    try:
        assert asyncio.run(read()) == [{"type": "message.sent", "message_id": "m1"}, None]
    finally:
        sender.close()
        listener.stop()


def test_with_a_redis_broker_the_worker_publishes_there_instead() -> None:
    local = WorkerProcess(Settings(), LocalBroadcaster())
    brokered = WorkerProcess(
        Settings(live_broker_url="redis://127.0.0.1:6379/15"), LocalBroadcaster()
    )
    alone = WorkerProcess(Settings())
    assert local.news_address is not None
    assert brokered.news_address is None
    assert alone.news_address is None
    for process in (local, brokered, alone):
        process.stop()
