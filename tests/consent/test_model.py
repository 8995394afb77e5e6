"""Validation of consent facts (each error names its field), signed links, the unsubscribe
headers, and the package's public API."""

from datetime import UTC, datetime, time, timedelta

import pytest

import omnicx.consent
from omnicx.consent import ChannelLimit, ConsentPolicy, Preferences, links, parse_quiet_hours
from omnicx.consent.model import check_channel, check_preferences, check_purposes
from omnicx.kernel import Forbidden, Gone, Invalid

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEY = links.consent_key(b"k" * 32)


def test_the_public_api_is_what_other_parts_call() -> None:
    assert {
        "Preferences",
        "ContactPermission",
        "ConsentRecord",
        "permission",
        "decide",
        "unsubscribe_headers",
        "in_quiet_hours",
        "quiet_hours_end",
        "Keywords",
        "ContactBlocks",
        "ConsentChanged",
        "FakeMailer",
    } <= set(omnicx.consent.__all__)
    assert len(set(omnicx.consent.__all__)) == len(omnicx.consent.__all__)
    for name in omnicx.consent.__all__:
        assert hasattr(omnicx.consent, name), name


def test_custom_purposes_come_after_the_built_in_ones() -> None:
    assert check_purposes(["loyalty", "marketing", "surveys"]) == (
        "transactional",
        "service",
        "marketing",
        "feedback",
        "loyalty",
        "surveys",
    )
    with pytest.raises(ValueError, match="lower-case"):
        check_purposes(["Bad Name"])
    assert ConsentPolicy(purposes=check_purposes(["loyalty"])).optional_purposes == (
        "service",
        "marketing",
        "feedback",
        "loyalty",
    )


def test_channels_and_their_aliases() -> None:
    assert check_channel("call_center") == "call"
    assert check_channel("*") == "*"
    with pytest.raises(Invalid) as refused:
        check_channel("*", "channel_order.0", every=False)
    assert (refused.value.code, refused.value.field) == ("unknown_channel", "channel_order.0")
    with pytest.raises(Invalid):
        check_channel("pigeon")


def test_quiet_hours_are_written_start_dash_end() -> None:
    assert parse_quiet_hours("21:00-08:00") == (time(21, 0), time(8, 0))
    for bad in ("21:00", "25:00-08:00", "21:00-21:00", "9pm-8am"):
        with pytest.raises(Invalid) as refused:
            parse_quiet_hours(bad)
        assert refused.value.field == "quiet_hours"


def test_preferences_are_checked_and_spelt_canonically() -> None:
    checked = check_preferences(
        Preferences(
            channel_order=("whatsapp", "call_center"),
            language="pt-br",
            time_zone="America/Sao_Paulo",
            max_per_day=2,
            max_per_week=5,
            channel_limits=(ChannelLimit("sms", 1, 3),),
        )
    )
    assert checked.channel_order == ("whatsapp", "call")
    assert checked.language == "pt-BR"
    assert checked.limit_of("sms") == ChannelLimit("sms", 1, 3)


@pytest.mark.parametrize(
    ("preferences", "code", "field"),
    [
        (Preferences(time_zone="Mars/Olympus"), "invalid_time_zone", "time_zone"),
        (Preferences(time_zone="../etc/passwd"), "invalid_time_zone", "time_zone"),
        (Preferences(language="xx-YY"), "invalid_language", "language"),
        (Preferences(channel_order=("sms", "sms")), "duplicate_channel", "channel_order"),
        (Preferences(channel_order=("fax",)), "unknown_channel", "channel_order.0"),
        (Preferences(max_per_day=0), "invalid_limit", "max_per_day"),
        (Preferences(max_per_day=5, max_per_week=2), "invalid_limit", "max_per_day"),
        (
            Preferences(channel_limits=(ChannelLimit("sms", 0),)),
            "invalid_limit",
            "channel_limits.0.max_per_day",
        ),
    ],
)
def test_bad_preferences_name_their_field(preferences: Preferences, code: str, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_preferences(preferences)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_signed_link_opens_only_with_its_key_and_kind() -> None:
    token = links.unsubscribe_token(KEY, "cust-1", "marketing", "email")

    claims = links.verify(KEY, token, "u", NOW)
    assert (claims.subject, claims.purpose, claims.channel) == ("cust-1", "marketing", "email")
    with pytest.raises(Forbidden):
        links.verify(links.consent_key(b"x" * 32), token, "u", NOW)
    with pytest.raises(Forbidden):
        links.verify(KEY, token, "p", NOW)
    body, _, signature = token.partition(".")
    with pytest.raises(Forbidden):
        links.verify(KEY, body[:-2] + "AA." + signature, "u", NOW)
    for junk in ("", "abc", "a.b", "x" * 700):
        with pytest.raises(Forbidden):
            links.verify(KEY, junk, "u", NOW)


def test_an_expired_link_is_gone() -> None:
    url = links.preferences_url("https://cx.example", KEY, "cust-1", NOW + timedelta(days=1))
    token = url.rpartition("/")[2]

    assert links.verify(KEY, token, "p", NOW).subject == "cust-1"
    with pytest.raises(Gone):
        links.verify(KEY, token, "p", NOW + timedelta(days=2))


def test_unsubscribe_headers_follow_rfc_8058() -> None:
    headers = links.unsubscribe_headers(
        "cust-1", "marketing", "email", "https://cx.example/", KEY, "support@shop.example"
    )

    token = links.unsubscribe_token(KEY, "cust-1", "marketing", "email")
    assert headers == {
        "List-Unsubscribe": f"<https://cx.example/u/{token}>, "
        f"<mailto:support@shop.example?subject=unsubscribe%20{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert omnicx.consent.unsubscribe_headers(
        "cust-1", "marketing", "email", "https://cx.example", KEY
    ) == {
        "List-Unsubscribe": f"<https://cx.example/u/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_the_csrf_field_is_bound_to_its_page() -> None:
    links.check_csrf(KEY, "page-a", links.csrf_token(KEY, "page-a"))
    with pytest.raises(Forbidden):
        links.check_csrf(KEY, "page-b", links.csrf_token(KEY, "page-a"))
    with pytest.raises(Forbidden):
        links.check_csrf(KEY, "page-a", None)
