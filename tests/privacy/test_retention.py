"""Retention: each domain deletes exactly its rows past their time, and nothing else."""

from datetime import UTC, datetime

from omnicx.bootstrap import Services
from omnicx.kernel import FixedClock
from omnicx.workers import Worker
from tests.conftest import table_counts
from tests.privacy.conftest import Person

TABLES = ("events", "ingest_dead_letters", "outbox", "identity_conflicts", "audit_log")


def test_retention_deletes_exactly_the_expired_rows(services: Services, person: Person) -> None:
    # The person's events are of 2026-05-01..03, the bystander's of 2026-05-01 09:00; the
    # person's conversation adds two timeline rows of 2026-05-04.
    clock = FixedClock(datetime(2027, 6, 1, tzinfo=UTC))
    services.uow.clock = clock
    services.process_outbox()
    before = table_counts(services, *TABLES)
    before_messages = table_counts(services, "messages")["messages"]
    assert before["events"] == 6
    cutoff_days = (datetime(2027, 6, 1, tzinfo=UTC) - datetime(2026, 5, 2, tzinfo=UTC)).days
    services.settings.retention_events_days = cutoff_days
    assert services.apply_retention(dry_run=True) == {
        "events": 2,
        "dead_letters": 1,
        "webhook_deliveries": before["outbox"] - 1,
        "export_archives": 0,
        "identity_conflicts": 0,
        "csat_surveys": 0,
        "channel_sends": 1,
    }
    assert table_counts(services, *TABLES) == before
    counts = services.apply_retention()
    assert counts["events"] == 2
    assert counts["dead_letters"] == 1
    after = table_counts(services, *TABLES)
    assert after["events"] == 4
    assert after["ingest_dead_letters"] == 0
    # The agent's reply left through the outbox too: its finished send went with them, while
    # the reply itself stays in the conversation.
    assert after["outbox"] == 0
    assert table_counts(services, "messages")["messages"] == before_messages
    assert after["audit_log"] == before["audit_log"]
    assert services.apply_retention(dry_run=True) == dict.fromkeys(counts, 0)


def test_the_worker_applies_retention_on_its_schedule(services: Services, person: Person) -> None:
    services.uow.clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    services.settings.retention_interval_seconds = 3600
    worker = Worker(services)
    first = worker.retain()
    assert first is not None
    assert first["events"] == 6
    assert worker.retain() is None
    assert table_counts(services, "events")["events"] == 0
