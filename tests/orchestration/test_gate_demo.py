"""The demo's decisions: one sent, one deferred for the night in the customer's time zone,
one skipped for lack of consent; running the demo again changes nothing."""

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from omnicx.bootstrap import build
from omnicx.cli.demo_gate import load_demo_decisions, night_zone
from omnicx.config import Settings
from omnicx.consent import ConsentSource, Wish
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from tests.conftest import table_counts
from tests.orchestration.test_sending import add_customer

NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def test_night_zone_is_somewhere_it_is_night() -> None:
    for hour in range(24):
        now = NOON.replace(hour=hour)
        local = now.astimezone(ZoneInfo(night_zone(now))).hour
        assert local >= 21 or local < 8


def test_the_demo_shows_one_decision_of_each_kind(make_settings: Callable[..., Settings]) -> None:
    services = build(make_settings(), clock=FixedClock(NOON))
    upgrade(services.engines)
    try:
        people = [add_customer(services, email=f"demo{i}@example.com") for i in range(4)]
        fan = people[2]
        with services.uow() as uow:
            services.consent_center.record(
                uow,
                fan,
                [Wish("marketing", "email", "granted")],
                ConsentSource("web", "customer", "api"),
                proof=None,
                note=None,
                at=None,
                recorded_by="test",
            )
            uow.commit()

        first = load_demo_decisions(services)
        counts = table_counts(services, "sends", "send_messages", "send_decisions")
        again = load_demo_decisions(services)

        assert {kind: d.outcome for kind, (_, d) in first.items()} == {
            "sent": "send",
            "deferred": "defer",
            "skipped": "skip",
        }
        assert first["deferred"][0] == fan
        assert first["skipped"][1].reason == "no channel: email: marketing not granted on email"
        assert again == first
        assert table_counts(services, "sends", "send_messages", "send_decisions") == counts
        with services.uow(write=False) as uow:
            sent = services.sends(uow).by_send_id("demo:order-shipped")
        assert sent is not None
        assert sent.status == "sent"
    finally:
        services.close()
