"""Group commit of inbound messages: many callers, one transaction, each message alone in
its outcome; on SQLite and PostgreSQL."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import AttachmentIn, InboundMessage, MessageReceived, Receipt
from omnicx.conversations.batcher import InboundBatcher
from omnicx.db.migrate import upgrade
from omnicx.kernel import Invalid
from tests.conftest import table_counts

TABLES = ("profiles", "conversations", "messages", "events")


def sms(phone: str, sid: str, text: str = "where is my order?") -> InboundMessage:
    return InboundMessage(
        channel="sms",
        account="+5511900000000",
        sender=(("phone", phone),),
        received_at=datetime.now(UTC),
        provider_message_id=sid,
        text=text,
    )


@pytest.fixture
def blocking(make_settings: Callable[..., Settings]) -> Iterator[Services]:
    services = build(make_settings(blocked_identifiers={"phone": ["+5511955550000"]}))
    upgrade(services.engines)
    yield services
    services.close()


def failing_after_its_writes(services: Services, sid: str) -> list[str]:
    """The reaction to the message with provider id `sid` fails once its rows (and the read
    models' facts) are written; the ids of the messages the reaction heard otherwise."""
    heard: list[str] = []
    boom: list[str] = [""]

    def react(event: MessageReceived, uow: object) -> None:
        if event.message_id == boom[0]:
            raise RuntimeError("a reaction failed")
        heard.append(event.message_id)

    services.bus.subscribe(MessageReceived, react)
    original = services._inbox()._receive

    def receive(uow: Any, inbound: InboundMessage, observed: Any, **options: Any) -> Receipt:
        receipt = original(uow, inbound, observed, **options)
        if inbound.provider_message_id == sid:
            boom[0] = receipt.message_id
        return receipt

    services._inbox()._receive = receive  # type: ignore[method-assign]
    return heard


def test_a_refused_message_in_a_batch_is_undone_alone(blocking: Services) -> None:
    heard = failing_after_its_writes(blocking, "SM3")
    batch = [
        sms("+5511911110001", "SM1"),
        sms("+5511955550000", "SM2"),  # a blocked sender
        sms("+5511911110003", "SM3"),  # its reaction fails after its rows are written
        sms("+5511911110001", "SM4"),
        sms("+5511911110001", "SM1"),  # a provider retry inside the same batch
    ]
    results = blocking._inbox().receive_many(batch)

    first, blocked, failed, second, retry = results
    assert isinstance(first, Receipt)
    assert isinstance(second, Receipt)
    assert isinstance(blocked, Invalid)
    assert blocked.code == "sender_blocked"
    assert isinstance(failed, RuntimeError)
    assert str(failed) == "a reaction failed"
    assert isinstance(retry, Receipt)
    assert retry.duplicate is True
    assert retry.message_id == first.message_id
    assert second.conversation_id == first.conversation_id
    assert heard == [first.message_id, second.message_id]
    # The refused messages left nothing behind: one customer, one conversation, two
    # messages, two timeline rows.
    assert table_counts(blocking, *TABLES) == {
        "profiles": 1,
        "conversations": 1,
        "messages": 2,
        "events": 2,
    }


def test_concurrent_webhook_threads_each_get_their_own_receipt(services: Services) -> None:
    receipts: dict[str, Receipt] = {}
    errors: list[BaseException] = []

    def post(n: int) -> None:
        for i in range(20):
            sid = f"SM{n:02d}{i:03d}"
            try:
                receipts[sid] = services.receive_inbound(sms(f"+55119222{n:05d}", sid))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(receipts) == 160
    per_customer: dict[str, set[str]] = {}
    for receipt in receipts.values():
        per_customer.setdefault(receipt.customer_id, set()).add(receipt.conversation_id)
    assert len(per_customer) == 8
    assert all(len(ids) == 1 for ids in per_customer.values())
    assert table_counts(services, "profiles", "conversations", "messages") == {
        "profiles": 8,
        "conversations": 8,
        "messages": 160,
    }


def test_a_failed_commit_reaches_every_caller() -> None:
    def broken(batch: Any) -> list[Receipt | Exception]:
        raise RuntimeError("database is gone")

    batcher = InboundBatcher(broken)
    with pytest.raises(RuntimeError, match="database is gone"):
        batcher.receive(sms("+5511911110001", "SM1"))
    batcher.close()
    # After close, messages are stored directly by the caller's thread.
    with pytest.raises(RuntimeError, match="database is gone"):
        batcher.receive(sms("+5511911110001", "SM2"))


def test_reactions_read_the_new_message_as_the_database_holds_it(services: Services) -> None:
    read: dict[str, Any] = {}

    def react(event: MessageReceived, uow: Any) -> None:
        read[event.message_id] = services.conversations(uow).message(event.message_id)

    services.bus.subscribe(MessageReceived, react)
    inbound = InboundMessage(
        channel="email",
        account="shop@example.com",
        sender=(("email", "Ana@Example.com"),),
        received_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        provider_message_id="<m1@example.com>",
        text="hello",
        html="<p>hello</p>",
        sender_name="Ana",
        attachments=(AttachmentIn("a.txt", "text/plain", b"abc"),),
        warnings=("a warning",),
        metadata={"list": [1, 2], "nested": {"key": "value"}},
    )
    (receipt,) = services._inbox().receive_many([inbound, sms("+5511911110001", "SM1")])[:1]
    assert isinstance(receipt, Receipt)

    with services.uow(write=False) as uow:
        stored = services.conversations(uow).message(receipt.message_id)
    assert stored is not None
    assert read[receipt.message_id] == stored
    assert len(read) == 2


def test_a_message_undone_with_its_savepoint_is_not_read_back(services: Services) -> None:
    undone: list[str] = []
    later: list[Any] = []

    def react(event: MessageReceived, uow: Any) -> None:
        if not undone:
            undone.append(event.message_id)
            raise RuntimeError("a reaction failed")
        later.append(services.conversations(uow).message(undone[0]))

    services.bus.subscribe(MessageReceived, react)
    failed, second = services._inbox().receive_many(
        [sms("+5511911110001", "SM1"), sms("+5511911110002", "SM2")]
    )

    assert isinstance(failed, RuntimeError)
    assert isinstance(second, Receipt)
    assert later == [None]
    assert table_counts(services, "messages") == {"messages": 1}


def test_a_batch_brings_the_read_models_up_to_date_once_without_its_undone_messages(
    services: Services,
) -> None:
    failing_after_its_writes(services, "SM2")
    counters: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.startswith("INSERT INTO analytics_channel_days"):
            counters.append(statement)

    sa.event.listen(services.engines.main, "before_cursor_execute", count)
    try:
        results = services._inbox().receive_many(
            [
                sms("+5511911110001", "SM1"),
                sms("+5511911110002", "SM2"),
                sms("+5511911110001", "SM3"),
                sms("+5511911110004", "SM4"),
            ]
        )
    finally:
        sa.event.remove(services.engines.main, "before_cursor_execute", count)

    assert [type(r).__name__ for r in results] == ["Receipt", "RuntimeError", "Receipt", "Receipt"]
    assert len(counters) == 1  # one upsert of the day's counters for the whole batch
    with services.engines.main.connect() as conn:
        days = conn.execute(
            sa.text("SELECT channel, interactions, new_customers FROM analytics_channel_days")
        ).all()
        summaries = conn.execute(
            sa.text("SELECT customer_id FROM analytics_customers ORDER BY customer_id")
        ).all()
    assert [tuple(d) for d in days] == [("sms", 3, 2)]
    stored = sorted({r.customer_id for r in results if isinstance(r, Receipt)})
    assert [s[0] for s in summaries] == stored
    assert table_counts(services, "profiles", "messages") == {"profiles": 2, "messages": 3}


def test_the_event_loop_waits_for_its_message_s_commit_without_a_thread(
    blocking: Services,
) -> None:
    async def post() -> tuple[Receipt | BaseException, ...]:
        return await asyncio.gather(
            blocking.receive_inbound_async(sms("+5511911110001", "SM1")),
            blocking.receive_inbound_async(sms("+5511955550000", "SM2")),  # blocked
            blocking.receive_inbound_async(sms("+5511911110001", "SM3")),
            return_exceptions=True,
        )

    first, blocked, second = asyncio.run(post())
    assert isinstance(first, Receipt)
    assert isinstance(second, Receipt)
    assert isinstance(blocked, Invalid)
    assert blocked.code == "sender_blocked"
    assert second.conversation_id == first.conversation_id
    assert table_counts(blocking, "messages") == {"messages": 2}

    # Once the batcher is closed, the message is stored by a thread of its own.
    blocking._inbound_batcher().close()
    assert blocking._inbound_batcher().hand_over(sms("+5511911110001", "SM4")) is None
    later = asyncio.run(blocking.receive_inbound_async(sms("+5511911110001", "SM4")))
    assert later.conversation_id == first.conversation_id
    assert table_counts(blocking, "messages") == {"messages": 3}


def test_a_batch_looks_its_provider_ids_up_at_once_and_alone_only_those_seen(
    services: Services,
) -> None:
    stored = services.receive_inbound(sms("+5511911110001", "SM1"))
    lookups: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "provider_message_id" in statement and statement.lstrip().startswith("SELECT"):
            lookups.append("batch" if " IN (" in statement else "alone")

    sa.event.listen(services.engines.main, "before_cursor_execute", count)
    try:
        results = services._inbox().receive_many(
            [
                sms("+5511911110001", "SM1"),  # a provider retry of a stored message
                sms("+5511911110002", "SM2"),
                sms("+5511911110003", "SM3"),
                sms("+5511911110002", "SM2"),  # a retry inside the batch
            ]
        )
    finally:
        sa.event.remove(services.engines.main, "before_cursor_execute", count)

    assert all(isinstance(r, Receipt) for r in results)
    receipts = [r for r in results if isinstance(r, Receipt)]
    assert [r.duplicate for r in receipts] == [True, False, False, True]
    assert receipts[0].message_id == stored.message_id
    assert receipts[3].message_id == receipts[1].message_id
    assert lookups == ["batch", "alone", "alone"]
    assert table_counts(services, "messages") == {"messages": 3}
