"""The policy gate, rule by rule: facts in, a decision with its exact reason out."""

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from omnicx.kernel import Invalid
from omnicx.orchestration.caps import parse_caps
from omnicx.orchestration.gate import (
    ChannelFacts,
    Content,
    Facts,
    PastSend,
    Policy,
    SendIntent,
    check_intent,
    decide,
    outranked,
    quiet_until,
)

# 15:00 in São Paulo (UTC-3), outside the default quiet hours 21:00-08:00.
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
CAPS = parse_caps({"marketing": {"*": {"day": 1, "week": 3}}, "feedback": {"*": {"day": 1}}})
POLICY = Policy(caps=CAPS, time_zone="America/Sao_Paulo")


def intent(**changes: object) -> SendIntent:
    base = SendIntent(
        send_id="s-1",
        customer_id="c-1",
        purpose="marketing",
        category="promotion",
        priority=40,
        channels=("sms", "email"),
        content=Content(text="Hello {{ customer.first_name }}"),
        origin="journey:j1:v1:send_1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def ok(channel: str, **changes: object) -> ChannelFacts:
    return replace(ChannelFacts(channel, reachable=True), **changes)  # type: ignore[arg-type]


def facts(*channels: ChannelFacts, **changes: object) -> Facts:
    base = Facts("c-1", channels or (ok("sms"), ok("email")), policy=POLICY)
    return replace(base, **changes)  # type: ignore[arg-type]


def gone(send_id: str, hours_ago: float, **changes: object) -> PastSend:
    base = PastSend(
        send_id, "marketing", "promotion", "sms", 40, NOW - timedelta(hours=hours_ago), "gone"
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_first_requested_channel_that_can_carry_it_is_chosen() -> None:
    decision = decide(intent(), facts(), NOW)

    assert (decision.outcome, decision.channel, decision.code) == ("send", "sms", "sent")
    assert decision.reason == "send on sms: the first of the requested channels (sms, email)"
    assert decision.defer_until is None
    assert decision.at == NOW
    assert decision.send_id == "s-1"


def test_channels_passed_over_are_named_with_why() -> None:
    decision = decide(
        intent(),
        facts(
            ok("sms", allowed=False, consent_reason="marketing not granted on sms"),
            ok("email"),
        ),
        NOW,
    )

    assert decision.channel == "email"
    assert decision.reason == (
        "send on email: the next of the requested channels (sms, email) "
        "(passed over sms: marketing not granted on sms)"
    )


def test_no_consent_on_any_channel_is_a_skip_with_every_reason() -> None:
    decision = decide(
        intent(),
        facts(
            ok("sms", allowed=False, consent_reason="marketing not granted on sms"),
            ok("email", allowed=False, consent_reason="marketing revoked on every channel"),
        ),
        NOW,
    )

    assert (decision.outcome, decision.channel, decision.code) == ("skip", None, "no_consent")
    assert decision.reason == (
        "no channel: sms: marketing not granted on sms; email: marketing revoked on every channel"
    )


def test_unreachable_and_channel_rules_have_their_own_codes() -> None:
    unreachable = decide(
        intent(channels=("sms",)), facts(ChannelFacts("sms", reachable=False)), NOW
    )
    window = decide(
        intent(channels=("whatsapp",)),
        facts(ok("whatsapp", refusal="outside WhatsApp's 24-hour customer-service window")),
        NOW,
    )
    mixed = decide(
        intent(channels=("whatsapp", "sms")),
        facts(ok("whatsapp", refusal="no WhatsApp number"), ChannelFacts("sms", reachable=False)),
        NOW,
    )
    missing = decide(intent(channels=("push",)), facts(), NOW)

    assert (unreachable.code, unreachable.reason) == (
        "unreachable",
        "no channel: sms: the customer has no identifier this channel can reach",
    )
    assert (window.code, window.reason) == (
        "channel_rule",
        "no channel: whatsapp: outside WhatsApp's 24-hour customer-service window",
    )
    assert mixed.code == "no_channel"
    assert missing.reason == "no channel: push: no sender is configured for push"


def test_suppression_stops_even_transactional() -> None:
    decision = decide(
        intent(purpose="transactional"),
        facts(suppressed="email suppressed (legal) on every channel"),
        NOW,
    )

    assert (decision.outcome, decision.code) == ("skip", "suppressed")
    assert decision.reason == "suppressed: email suppressed (legal) on every channel"


def test_a_stale_intent_is_skipped() -> None:
    decision = decide(intent(not_after=NOW), facts(), NOW)

    assert (decision.outcome, decision.code) == ("skip", "stale")
    assert decision.reason == "stale: not to be sent after 2026-11-23 18:00 UTC"


# -- auto channel choice ------------------------------------------------------------------


def test_auto_follows_the_customers_channel_order_first() -> None:
    decision = decide(
        intent(channels=()),
        facts(ok("sms"), ok("email"), ok("whatsapp"), channel_order=("whatsapp", "email")),
        NOW,
    )

    assert decision.channel == "whatsapp"
    assert decision.reason == "send on whatsapp: the customer's channel order (whatsapp > email)"


def test_auto_then_prefers_the_most_recent_engagement_then_the_lowest_cost() -> None:
    engaged = decide(
        intent(channels=()),
        facts(
            ok("sms", cost=0.05, last_engagement=NOW - timedelta(days=3)),
            ok("email", cost=0.001, last_engagement=NOW - timedelta(hours=2)),
            ok("telegram", cost=0.0),
        ),
        NOW,
    )
    cheapest = decide(
        intent(channels=()),
        facts(ok("sms", cost=0.05), ok("email", cost=0.001), ok("whatsapp", cost=0.03)),
        NOW,
    )

    assert engaged.channel == "email"
    assert engaged.reason == "send on email: the most recent engagement (2026-11-23 16:00 UTC)"
    assert cheapest.channel == "email"
    assert cheapest.reason == "send on email: the lowest cost (0.001)"


def test_a_fallback_leaves_out_the_channels_already_tried() -> None:
    decision = decide(intent(), facts(tried=("sms",)), NOW)
    nothing_left = decide(intent(), facts(tried=("sms", "email")), NOW)

    assert decision.channel == "email"
    assert decision.reason == (
        "send on email: fallback after sms; the next of the requested channels (sms, email)"
    )
    assert (nothing_left.outcome, nothing_left.reason) == (
        "skip",
        "no channel left after sms, email",
    )


# -- quiet hours -----------------------------------------------------------------------------


def test_quiet_hours_defer_to_their_local_end_in_the_customers_time_zone() -> None:
    # 02:30 UTC is 23:30 in São Paulo (UTC-3) and 11:30 in Tokyo (UTC+9).
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    sao_paulo = decide(intent(), facts(time_zone="America/Sao_Paulo"), night)
    tokyo = decide(intent(), facts(time_zone="Asia/Tokyo"), night)

    assert (sao_paulo.outcome, sao_paulo.code) == ("defer", "quiet_hours")
    assert sao_paulo.defer_until == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert sao_paulo.reason == (
        "quiet hours 21:00-08:00 America/Sao_Paulo: deferred to 08:00 local time "
        "(2026-11-24 11:00 UTC)"
    )
    assert sao_paulo.channel == "sms"
    assert tokyo.outcome == "send"


def test_the_customers_own_quiet_hours_win_over_the_policys() -> None:
    # 18:00 UTC = 15:00 in São Paulo: inside a customer's 13:00-16:00 siesta.
    decision = decide(intent(), facts(quiet_hours=(time(13, 0), time(16, 0))), NOW)

    assert decision.defer_until == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert decision.reason == (
        "quiet hours 13:00-16:00 America/Sao_Paulo: deferred to 16:00 local time "
        "(2026-11-23 19:00 UTC)"
    )


def test_quiet_hours_before_midnight_end_the_next_morning_and_after_midnight_the_same() -> None:
    zone = ZoneInfo("Europe/Lisbon")
    hours = (time(21, 0), time(8, 0))

    evening = quiet_until(datetime(2026, 11, 23, 22, 0, tzinfo=UTC), zone, hours)
    small_hours = quiet_until(datetime(2026, 11, 24, 3, 0, tzinfo=UTC), zone, hours)
    day = quiet_until(datetime(2026, 11, 24, 12, 0, tzinfo=UTC), zone, hours)
    none = quiet_until(NOW, zone, (time(8, 0), time(8, 0)))

    assert evening == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert small_hours == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert day is None
    assert none is None


def test_quiet_hours_follow_daylight_saving_on_the_wall_clock() -> None:
    # New York leaves daylight saving on 2026-11-01: 08:00 local is 12:00 UTC before, 13:00 after.
    zone = ZoneInfo("America/New_York")
    hours = (time(21, 0), time(8, 0))

    assert quiet_until(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), zone, hours) == datetime(
        2026, 11, 1, 13, 0, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 10, 31, 4, 0, tzinfo=UTC), zone, hours) == datetime(
        2026, 10, 31, 12, 0, tzinfo=UTC
    )


def test_an_unknown_time_zone_falls_back_to_the_policys() -> None:
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)

    decision = decide(intent(), facts(time_zone="Mars/Olympus"), night)

    assert decision.reason.startswith("quiet hours 21:00-08:00 America/Sao_Paulo:")


def test_stale_before_the_quiet_hours_end_is_a_skip() -> None:
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)

    decision = decide(intent(not_after=night + timedelta(hours=2)), facts(), night)

    assert (decision.outcome, decision.code) == ("skip", "stale")
    assert decision.reason == (
        "quiet hours 21:00-08:00 America/Sao_Paulo until 08:00; the message is stale after "
        "2026-11-24 04:30 UTC: skipped"
    )


def test_transactional_bypasses_quiet_hours_caps_and_competition() -> None:
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    busy = (gone("m-1", 1, priority=90), gone("m-2", 2))

    decision = decide(intent(purpose="transactional"), facts(recent=busy), night)

    assert (decision.outcome, decision.channel) == ("send", "sms")
    assert decision.reason == (
        "send on sms: the first of the requested channels (sms, email); "
        "transactional: no caps nor quiet hours"
    )


# -- frequency caps --------------------------------------------------------------------------


def test_a_marketing_cap_reached_is_a_skip() -> None:
    decision = decide(intent(), facts(recent=(gone("m-1", 20),)), NOW)

    assert (decision.outcome, decision.code) == ("skip", "frequency_cap")
    assert decision.reason == (
        "frequency cap marketing: 1 per day reached (1 in the last day): skipped"
    )


def test_caps_roll_instead_of_resetting_at_midnight() -> None:
    # Sent 25 hours ago: outside the rolling day, inside the week (1 of 3).
    assert decide(intent(), facts(recent=(gone("m-1", 25),)), NOW).outcome == "send"
    week = (gone("m-1", 30), gone("m-2", 60), gone("m-3", 100))
    capped = decide(intent(), facts(recent=week), NOW)
    assert capped.reason == (
        "frequency cap marketing: 3 per week reached (3 in the last week): skipped"
    )
    older = (gone("m-1", 30), gone("m-2", 60), gone("m-3", 24 * 7 + 1))
    assert decide(intent(), facts(recent=older), NOW).outcome == "send"


def test_a_non_marketing_cap_defers_until_the_window_frees() -> None:
    decision = decide(
        intent(purpose="feedback", category="survey"),
        facts(recent=(gone("f-1", 20, purpose="feedback", category="survey"),)),
        NOW,
    )

    assert (decision.outcome, decision.code) == ("defer", "frequency_cap")
    assert decision.defer_until == NOW + timedelta(hours=4)
    assert decision.reason == (
        "frequency cap feedback: 1 per day reached (1 in the last day): "
        "deferred to 2026-11-23 22:00 UTC when the window frees"
    )


def test_other_purposes_and_failed_or_waiting_sends_do_not_count() -> None:
    recent = (
        gone("t-1", 1, purpose="transactional", category="order"),
        gone("w-1", 1, state="waiting", priority=10),
    )

    decision = decide(intent(), facts(recent=recent), NOW)

    assert decision.outcome == "send"


def test_per_category_and_per_channel_caps() -> None:
    policy = Policy(
        caps=parse_caps(
            {"marketing": {"promotion": {"week": 1}}, "marketing:sms": {"*": {"week": 1}}}
        ),
        time_zone="America/Sao_Paulo",
    )
    other_category = gone("m-1", 30, category="newsletter")
    on_sms = decide(intent(), facts(recent=(other_category,), policy=policy), NOW)
    promo = decide(
        intent(category="promotion"),
        facts(recent=(gone("m-1", 30, channel="email"),), policy=policy),
        NOW,
    )

    assert on_sms.channel == "email"
    assert on_sms.reason.endswith(
        "(passed over sms: frequency cap marketing on sms: 1 per week reached (1 in the last week))"
    )
    assert promo.reason == (
        "frequency cap marketing/promotion: 1 per week reached (1 in the last week): skipped"
    )


def test_the_customers_own_limits_cap_every_promotional_purpose() -> None:
    recent = (gone("f-1", 5, purpose="feedback", category="survey"),)

    decision = decide(
        intent(purpose="custom_news", category="news"),
        facts(recent=recent, max_per_day=1),
        NOW,
    )
    service = decide(intent(purpose="service"), facts(recent=recent, max_per_day=1), NOW)

    assert decision.outcome == "defer"
    assert decision.reason == (
        "frequency cap every promotional message: 1 per day reached (1 in the last day): "
        "deferred to 2026-11-24 13:00 UTC when the window frees"
    )
    assert service.outcome == "send"


# -- competing sends -----------------------------------------------------------------------


def test_a_lower_priority_send_loses_to_a_higher_one_sent_within_the_window() -> None:
    policy = replace(POLICY, caps=())
    winner = gone("b:spring:c-1", 0.5, priority=80)

    lost = decide(intent(priority=40), facts(recent=(winner,), policy=policy), NOW)
    later = decide(
        intent(priority=40),
        facts(recent=(replace(winner, at=NOW - timedelta(hours=2)),), policy=policy),
        NOW,
    )

    assert (lost.outcome, lost.code, lost.channel) == ("skip", "lost_priority", "sms")
    assert lost.reason == "lost to b:spring:c-1 (priority 80 > 40)"
    assert later.outcome == "send"


def test_equal_priority_goes_to_the_first_decided_and_waiting_sends_compete_at_any_age() -> None:
    policy = replace(POLICY, caps=())
    waiting = gone("j:1", 12, state="waiting")

    decision = decide(intent(priority=40), facts(recent=(waiting,), policy=policy), NOW)

    assert decision.reason == "lost to j:1 (priority 40 = 40, decided first)"


def test_a_higher_priority_send_outranks_the_waiting_lower_ones() -> None:
    policy = replace(POLICY, caps=())
    recent = (
        gone("low-waiting", 10, state="waiting", priority=20),
        gone("low-going", 0.01, state="going", priority=30),
        gone("low-gone", 0.2, priority=30),
        gone("service", 0.1, state="waiting", purpose="service", priority=1),
    )
    mine = intent(priority=80)

    decision = decide(mine, facts(recent=recent, policy=policy), NOW)

    assert decision.outcome == "send"
    assert [o.send_id for o in outranked(mine, recent, policy, NOW)] == [
        "low-waiting",
        "low-going",
    ]
    assert outranked(intent(purpose="service"), recent, policy, NOW) == []


def test_service_messages_do_not_compete() -> None:
    recent = (gone("m-1", 0.1, priority=100),)

    decision = decide(intent(purpose="service", priority=0), facts(recent=recent), NOW)

    assert decision.outcome == "send"


# -- intents -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"send_id": ""}, "invalid_send_id", "send_id"),
        ({"send_id": "x" * 201}, "invalid_send_id", "send_id"),
        ({"purpose": "Marketing"}, "invalid_purpose", "purpose"),
        ({"category": ""}, "invalid_category", "category"),
        ({"priority": 101}, "invalid_priority", "priority"),
        ({"priority": -1}, "invalid_priority", "priority"),
        ({"channels": ("SMS",)}, "invalid_channel", "channels"),
        ({"origin": ""}, "invalid_origin", "origin"),
        ({"content": Content()}, "empty_content", "content.text"),
        ({"content": Content(template="Bad Name")}, "invalid_template_name", "content.template"),
        ({"content": Content(text="x" * 10_001)}, "content_too_long", "content.text"),
        ({"fallback_after_seconds": 0}, "invalid_fallback", "fallback_after_seconds"),
        ({"not_after": datetime(2026, 1, 1)}, "invalid_not_after", "not_after"),
    ],
)
def test_a_bad_intent_is_refused_naming_the_field(
    changes: dict[str, object], code: str, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_intent(intent(**changes))

    assert (caught.value.code, caught.value.field) == (code, field)


def test_bad_cap_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"marketing\.\*\.month: the window is one of"):
        parse_caps({"marketing": {"*": {"month": 1}}})
    with pytest.raises(ValueError, match="write purpose or purpose:channel"):
        parse_caps({"Marketing": {"*": {"day": 1}}})
    with pytest.raises(ValueError, match=r"the limit is a whole number"):
        parse_caps({"marketing": {"*": {"day": -1}}})
