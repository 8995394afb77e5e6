"""The contact decision, pure: defaults per purpose, the latest record winning, the every-channel
record, suppressions by reason, and the reasons given."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from omnicx.consent import (
    ConsentRecord,
    ConsentSource,
    ContactPermission,
    Suppression,
    blocks,
    decide,
    permission,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEB = ConsentSource("web", "customer", "web_form", "c1")
STOP = ConsentSource("sms", "customer", "keyword", "c1")


def record(
    purpose: str,
    channel: str,
    state: str,
    minutes_ago: int,
    source: ConsentSource = WEB,
    detail: str | None = None,
) -> ConsentRecord:
    return ConsentRecord(
        "c1",
        purpose,
        channel,
        state,  # type: ignore[arg-type]
        NOW - timedelta(minutes=minutes_ago),
        source,
        f"ch-{purpose}-{channel}-{minutes_ago}",
        detail,
    )


def suppression(reason: str, channel: str, kind: str = "email") -> Suppression:
    return Suppression("s1", kind, "hash", reason, channel, NOW - timedelta(days=1), "admin")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("purpose", "allowed", "reason"),
    [
        ("transactional", True, "transactional is allowed on sms unless refused"),
        ("service", True, "service is allowed on sms unless refused"),
        ("marketing", False, "marketing not granted on sms"),
        ("feedback", False, "feedback not granted on sms"),
        ("loyalty", False, "loyalty not granted on sms"),
    ],
)
def test_with_nothing_recorded_only_transactional_and_service_are_allowed(
    purpose: str, allowed: bool, reason: str
) -> None:
    assert permission([], purpose, "sms", suppressed=False, now=NOW) == ContactPermission(
        allowed, reason
    )


def test_a_grant_allows_its_channel_only() -> None:
    consents = [record("marketing", "email", "granted", 60)]

    assert permission(consents, "marketing", "email", suppressed=False, now=NOW) == (
        ContactPermission(
            True, "marketing granted on email by web form on web, 2026-11-23 11:00 UTC"
        )
    )
    assert not permission(consents, "marketing", "sms", suppressed=False, now=NOW).allowed


def test_an_every_channel_revocation_after_a_grant_wins_everywhere() -> None:
    consents = [
        record("marketing", "email", "granted", 60),
        record("marketing", "*", "revoked", 5, STOP, "keyword PARAR"),
    ]

    for channel in ("email", "sms", "whatsapp", "call_center"):
        answer = permission(consents, "marketing", channel, suppressed=False, now=NOW)
        assert answer == ContactPermission(
            False,
            "marketing revoked on every channel by keyword PARAR on sms, 2026-11-23 11:55 UTC",
        )


def test_a_later_grant_on_one_channel_reopens_that_channel_only() -> None:
    consents = [
        record("marketing", "*", "revoked", 60, STOP, "keyword STOP"),
        record("marketing", "sms", "granted", 5, STOP, "keyword START"),
    ]

    assert permission(consents, "marketing", "sms", suppressed=False, now=NOW).allowed
    assert not permission(consents, "marketing", "email", suppressed=False, now=NOW).allowed


def test_on_the_same_instant_the_record_made_last_wins() -> None:
    first, then = record("marketing", "sms", "granted", 10), record("marketing", "*", "revoked", 10)
    ordered = [replace(first, change_id="0001"), replace(then, change_id="0002")]
    assert not permission(ordered, "marketing", "sms", suppressed=False, now=NOW).allowed
    reversed_ = [replace(first, change_id="0002"), replace(then, change_id="0001")]
    assert permission(reversed_, "marketing", "sms", suppressed=False, now=NOW).allowed


def test_a_service_revocation_blocks_even_the_default() -> None:
    consents = [record("service", "whatsapp", "revoked", 1, STOP, "keyword STOP")]

    assert not permission(consents, "service", "whatsapp", suppressed=False, now=NOW).allowed
    assert permission(consents, "service", "email", suppressed=False, now=NOW).allowed


def test_records_dated_after_now_do_not_count_yet() -> None:
    consents = [record("marketing", "email", "granted", -30)]

    assert not permission(consents, "marketing", "email", suppressed=False, now=NOW).allowed


def test_a_suppression_says_no_whatever_the_consent() -> None:
    consents = [record("marketing", "email", "granted", 60)]

    assert permission(consents, "marketing", "email", suppressed=True, now=NOW) == (
        ContactPermission(False, "email is suppressed")
    )
    assert permission(
        consents, "marketing", "email", suppressed="email bounced", now=NOW
    ) == ContactPermission(False, "email bounced")


@pytest.mark.parametrize(
    ("reason", "channel", "purpose", "on", "blocked"),
    [
        ("legal", "*", "transactional", "sms", True),
        ("complained", "*", "marketing", "sms", True),
        ("complained", "*", "transactional", "email", False),
        ("bounced", "email", "transactional", "email", True),
        ("bounced", "email", "marketing", "sms", False),
        ("manual", "sms", "marketing", "sms", True),
        ("manual", "sms", "transactional", "sms", False),
        ("manual", "*", "service", "whatsapp", True),
        ("manual", "sms", "service", "email", False),
    ],
)
def test_what_a_suppression_blocks_depends_on_its_reason(
    reason: str, channel: str, purpose: str, on: str, blocked: bool
) -> None:
    assert blocks(suppression(reason, channel), purpose, on) is blocked


def test_decide_names_the_suppression() -> None:
    answer = decide([], [suppression("bounced", "email")], "transactional", "email", NOW)

    assert answer == ContactPermission(
        False, "email suppressed (bounced) on email since 2026-11-22 12:00 UTC"
    )
    assert decide([], [suppression("bounced", "email")], "service", "sms", NOW).allowed
