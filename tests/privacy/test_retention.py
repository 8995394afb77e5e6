"""Retention: each domain deletes exactly its rows past their time, and nothing else."""

from datetime import UTC, datetime

import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.kernel import FixedClock
from omnicx.privacy import RETENTION_KINDS
from omnicx.workers import Worker
from tests.conftest import table_counts
from tests.privacy.conftest import Person

TABLES = ("events", "ingest_dead_letters", "outbox", "identity_conflicts", "audit_log")
GATE = ("sends", "send_messages", "send_decisions", "send_receipts")
NOW = datetime(2027, 6, 1, tzinfo=UTC)


def test_retention_deletes_exactly_the_expired_rows(services: Services, person: Person) -> None:
    # The person's tracked events are of 2026-05-01..03, the bystander's of 2026-05-01 09:00;
    # the person's conversation adds two timeline rows of 2026-05-04; the journey's trigger,
    # the consent, the segment, the gate's sends and the order, of 2026-05-05.
    services.uow.clock = FixedClock(NOW)
    services.process_outbox()
    before = table_counts(services, *TABLES)
    before_messages = table_counts(services, "messages")["messages"]
    assert before["events"] == 24
    services.settings.retention_events_days = (NOW - datetime(2026, 5, 2, tzinfo=UTC)).days
    # The agent's reply and the gate's two messages left through the outbox; every other
    # row of it is a webhook delivery.
    assert services.apply_retention(dry_run=True) == {
        "events": 2,
        "dead_letters": 1,
        "webhook_deliveries": before["outbox"] - 3,
        "export_archives": 0,
        "identity_conflicts": 0,
        "csat_surveys": 0,
        "channel_sends": 3,
        "gate_sends": 0,
    }
    assert table_counts(services, *TABLES) == before
    counts = services.apply_retention()
    assert counts["events"] == 2
    assert counts["dead_letters"] == 1
    after = table_counts(services, *TABLES)
    assert after["events"] == 22
    assert after["ingest_dead_letters"] == 0
    # The finished sends went with the outbox, while the reply itself stays in the
    # conversation.
    assert after["outbox"] == 0
    assert table_counts(services, "messages")["messages"] == before_messages
    assert after["audit_log"] == before["audit_log"]
    assert services.apply_retention(dry_run=True) == dict.fromkeys(counts, 0)


def test_the_gates_sends_go_with_their_decisions_and_receipts(
    services: Services, person: Person
) -> None:
    services.uow.clock = FixedClock(NOW)
    assert table_counts(services, *GATE) == {
        "sends": 2,
        "send_messages": 2,
        "send_decisions": 2,
        "send_receipts": 1,
    }
    # By default (400 days) the sends of 2026-05-05 are kept until 2027-06-09.
    assert services.apply_retention()["gate_sends"] == 0
    services.settings.retention_gate_sends_days = 365

    assert services.apply_retention(dry_run=True)["gate_sends"] == 2
    assert table_counts(services, "sends")["sends"] == 2
    assert services.apply_retention()["gate_sends"] == 2

    assert table_counts(services, *GATE) == dict.fromkeys(GATE, 0)
    # What the sends put on the timeline is the events' to keep.
    with services.engines.main.connect() as conn:
        sources = conn.execute(
            sa.text("SELECT source_id, count(*) FROM events GROUP BY source_id ORDER BY source_id")
        ).all()
    assert ("maestro", 2) in [tuple(row) for row in sources]


def test_every_kind_has_a_setting(services: Services) -> None:
    assert sorted(services.settings.retention_policies) == sorted(RETENTION_KINDS)
    assert set(services.apply_retention(dry_run=True)) == set(RETENTION_KINDS)


def test_the_worker_applies_retention_on_its_schedule(services: Services, person: Person) -> None:
    services.uow.clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    services.settings.retention_interval_seconds = 3600
    worker = Worker(services)
    first = worker.retain()
    assert first is not None
    assert first["events"] == 24
    assert first["gate_sends"] == 2
    assert worker.retain() is None
    assert table_counts(services, "events", "sends") == {"events": 0, "sends": 0}
