"""Opt-out keywords (case, accents, punctuation, Portuguese and Spanish) and quiet hours in the
customer's zone (over midnight, across daylight-saving changes)."""

from datetime import UTC, datetime, time

import pytest

from omnicx.config import DEFAULT_OPT_OUT_KEYWORDS
from omnicx.consent import DEFAULT_OPT_IN_KEYWORDS, Keywords, in_quiet_hours, quiet_hours_end
from omnicx.consent.keywords import fold

KEYWORDS = Keywords.of(DEFAULT_OPT_OUT_KEYWORDS, DEFAULT_OPT_IN_KEYWORDS)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("STOP", ("opt_out", "STOP")),
        ("stop", ("opt_out", "STOP")),
        ("  Stop!  ", ("opt_out", "STOP")),
        ("PARAR", ("opt_out", "PARAR")),
        ("parar.", ("opt_out", "PARAR")),
        ("Páre", ("opt_out", "PARE")),
        ("BAJA", ("opt_out", "BAJA")),
        ("baja", ("opt_out", "BAJA")),
        ("Descadastrar", ("opt_out", "DESCADASTRAR")),
        ("SAIR\n", ("opt_out", "SAIR")),
        ("unsubscribe", ("opt_out", "UNSUBSCRIBE")),
        ("START", ("opt_in", "START")),
        ("unstop", ("opt_in", "UNSTOP")),
        ("please stop", None),
        ("STOP sending me offers", None),
        ("stopped", None),
        ("", None),
        (None, None),
        ("Meu pedido chegou?", None),
        ("x" * 500, None),
    ],
)
def test_only_a_message_that_is_exactly_a_keyword_counts(
    text: str | None, found: tuple[str, str] | None
) -> None:
    assert KEYWORDS.match(text) == found


def test_configured_keywords_are_folded_the_same_way() -> None:
    keywords = Keywords.of(["Cancelación"], ["Volver"])

    assert keywords.match("CANCELACION") == ("opt_out", "CANCELACION")
    assert keywords.match("volver!") == ("opt_in", "VOLVER")
    assert keywords.match("STOP") is None
    assert fold("  ¡Ñandú!  ") == "NANDU"


NIGHT = (time(21, 0), time(8, 0))
LUNCH = (time(12, 0), time(14, 0))
SAO_PAULO = "America/Sao_Paulo"


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 6, 1, 23, 59, tzinfo=UTC), False),  # 20:59 in São Paulo
        (datetime(2026, 6, 2, 0, 0, tzinfo=UTC), True),  # 21:00
        (datetime(2026, 6, 2, 5, 0, tzinfo=UTC), True),  # 02:00
        (datetime(2026, 6, 2, 10, 59, tzinfo=UTC), True),  # 07:59
        (datetime(2026, 6, 2, 11, 0, tzinfo=UTC), False),  # 08:00
    ],
)
def test_a_window_over_midnight_in_the_customer_s_zone(utc: datetime, inside: bool) -> None:
    assert in_quiet_hours(NIGHT, SAO_PAULO, utc) is inside


def test_the_end_of_the_quiet_hours_is_the_next_local_morning() -> None:
    evening = datetime(2026, 6, 2, 1, 30, tzinfo=UTC)  # 22:30 on June 1st in São Paulo
    morning = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # 06:00 on June 2nd

    assert quiet_hours_end(NIGHT, SAO_PAULO, evening) == datetime(2026, 6, 2, 11, 0, tzinfo=UTC)
    assert quiet_hours_end(NIGHT, SAO_PAULO, morning) == datetime(2026, 6, 2, 11, 0, tzinfo=UTC)
    assert quiet_hours_end(NIGHT, SAO_PAULO, datetime(2026, 6, 2, 15, tzinfo=UTC)) is None


def test_a_window_within_one_day_and_no_zone_means_utc() -> None:
    assert in_quiet_hours(LUNCH, None, datetime(2026, 6, 2, 13, 0, tzinfo=UTC))
    assert not in_quiet_hours(LUNCH, None, datetime(2026, 6, 2, 14, 0, tzinfo=UTC))
    assert quiet_hours_end(LUNCH, None, datetime(2026, 6, 2, 12, 30, tzinfo=UTC)) == datetime(
        2026, 6, 2, 14, 0, tzinfo=UTC
    )
    assert not in_quiet_hours(None, SAO_PAULO, datetime(2026, 6, 2, 3, tzinfo=UTC))


def test_quiet_hours_follow_the_wall_clock_across_daylight_saving() -> None:
    new_york = "America/New_York"
    winter = datetime(2026, 1, 15, 2, 30, tzinfo=UTC)  # 21:30 EST
    summer = datetime(2026, 7, 15, 1, 30, tzinfo=UTC)  # 21:30 EDT

    assert in_quiet_hours(NIGHT, new_york, winter)
    assert in_quiet_hours(NIGHT, new_york, summer)
    assert quiet_hours_end(NIGHT, new_york, winter) == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert quiet_hours_end(NIGHT, new_york, summer) == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    spring = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST, the night clocks go forward
    assert quiet_hours_end(NIGHT, new_york, spring) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
