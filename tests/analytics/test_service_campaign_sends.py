"""The campaign sends of a unit of work are written together, on SQLite and PostgreSQL: each
send id once (its first decision wins, one stored before stays), the counters added per
campaign, version, day and channel, and nothing from a savepoint that rolled back."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Event
from omnicx.orchestration.messages import MessageDecided
from tests.conftest import table_counts

T0 = datetime(2026, 4, 1, 23, 59, tzinfo=UTC)
SPRING = "broadcast:spring"
WELCOME = "journey:welcome:v2:send_1"


def decided(send_id: str, channel: str | None, origin: str, at: datetime = T0) -> MessageDecided:
    outcome = "send" if channel is not None else "skip"
    return MessageDecided(send_id, f"c-{send_id}", outcome, channel, "ok", "", None, origin, at)


def sends(services: Services) -> list[tuple[str, str, int, str, str, date, bool]]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT send_id, campaign, version, customer_id, channel, day, delivered "
                "FROM analytics_campaign_sends ORDER BY send_id"
            )
        )
        return [(r[0], r[1], r[2], r[3], r[4], _day(r[5]), bool(r[6])) for r in rows]


def days(services: Services) -> list[tuple[str, int, date, str, int, int]]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT campaign, version, day, channel, sends, delivered "
                "FROM analytics_campaign_days ORDER BY campaign, version, day, channel"
            )
        )
        return [(r[0], r[1], _day(r[2]), r[3], r[4], r[5]) for r in rows]


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def test_a_units_sends_are_written_once_each_and_counted_per_key(services: Services) -> None:
    with services.uow() as uow:
        uow.raise_event(decided("b:stored", "email", SPRING))
        uow.commit()

    events: list[Event] = [
        decided(f"b:{n:04d}", ("sms", "email")[n % 2], SPRING) for n in range(1201)
    ]
    events += [
        decided("b:0000", "whatsapp", SPRING, T0 + timedelta(minutes=5)),  # a fallback
        decided("b:stored", "sms", SPRING),  # decided again in a later transaction
        decided("j:1", "push", WELCOME, T0 + timedelta(minutes=1)),  # the next UTC day
        decided("j:2", None, WELCOME),  # skipped
        decided("agent:1", "email", "agent:u-1"),  # no campaign
    ]
    with services.uow() as uow:
        for event in events:
            uow.raise_event(event)
        uow.commit()

    found = sends(services)
    assert len(found) == 1203
    by_id = {row[0]: row for row in found}
    assert by_id["b:0000"] == ("b:0000", SPRING, 0, "c-b:0000", "sms", date(2026, 4, 1), False)
    assert by_id["b:stored"][4] == "email"
    assert by_id["j:1"] == ("j:1", "journey:welcome", 2, "c-j:1", "push", date(2026, 4, 2), False)
    assert "j:2" not in by_id
    assert "agent:1" not in by_id
    assert days(services) == [
        (SPRING, 0, date(2026, 4, 1), "email", 601, 0),
        (SPRING, 0, date(2026, 4, 1), "sms", 601, 0),
        ("journey:welcome", 2, date(2026, 4, 2), "push", 1, 0),
    ]


@dataclass(frozen=True)
class Boom(Event):
    pass


class Refused(Exception):
    pass


def undone(uow: UnitOfWork) -> None:
    """A send heard in a savepoint whose next reaction fails."""
    with uow.savepoint():
        uow.raise_event(decided("b:undone", "sms", SPRING))
        uow.raise_event(Boom())


def test_sends_heard_in_a_savepoint_that_rolled_back_are_not_written(services: Services) -> None:
    def refuse(event: Boom, uow: object) -> None:
        raise Refused

    services.bus.subscribe(Boom, refuse)
    with services.uow() as uow:
        uow.raise_event(decided("b:before", "email", SPRING))
        uow.publish()
        with pytest.raises(Refused):
            undone(uow)
        with uow.savepoint():
            uow.raise_event(decided("b:kept", "sms", SPRING))
        uow.raise_event(decided("b:after", "sms", SPRING))
        uow.commit()

    assert [row[0] for row in sends(services)] == ["b:after", "b:before", "b:kept"]
    assert days(services) == [
        (SPRING, 0, date(2026, 4, 1), "email", 1, 0),
        (SPRING, 0, date(2026, 4, 1), "sms", 2, 0),
    ]


def test_a_transaction_that_rolls_back_writes_no_send(services: Services) -> None:
    with services.uow() as uow:
        uow.raise_event(decided("b:1", "email", SPRING))
        uow.publish()
        uow.rollback()
    assert table_counts(services, "analytics_campaign_sends", "analytics_campaign_days") == {
        "analytics_campaign_sends": 0,
        "analytics_campaign_days": 0,
    }
