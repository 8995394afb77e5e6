"""Email tracking without a database: signed tokens for the pixel and the links, refusals of
anything forged or altered, and rewriting an email's HTML."""

import base64

import orjson
import pytest

from omnicx.kernel import Forbidden
from omnicx.orchestration.tracking import (
    sign,
    track_html,
    trackable,
    tracked_email,
    tracking_key,
    verify,
)

KEY = tracking_key(b"k" * 32)


def test_the_key_is_derived_from_the_index_key() -> None:
    assert tracking_key(b"k" * 32) == KEY
    assert tracking_key(b"j" * 32) != KEY
    assert len(KEY) == 32


def test_open_and_click_tokens_verify_to_what_they_stand_for() -> None:
    opened = verify(KEY, sign(KEY, "open", "m-1"), "open")
    clicked = verify(KEY, sign(KEY, "click", "m-1", "https://shop.example/p/1?x=1&y=2"), "click")

    assert (opened.kind, opened.message_id, opened.url) == ("open", "m-1", None)
    assert (clicked.kind, clicked.message_id, clicked.url) == (
        "click",
        "m-1",
        "https://shop.example/p/1?x=1&y=2",
    )
    assert sign(KEY, "open", "m-1") == sign(KEY, "open", "m-1")  # the same link each time


def _forged_body(token: str, **changes: object) -> str:
    body, _, signature = token.partition(".")
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    new = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{new}.{signature}"


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            _forged_body(
                sign(KEY, "click", "m-1", "https://shop.example/"), u="https://evil.example/"
            ),
            "the link's signature does not match",
        ),
        (
            _flip(sign(KEY, "click", "m-1", "https://shop.example/"), 3),
            "the link's signature does not match",
        ),
        (
            _flip(sign(KEY, "click", "m-1", "https://shop.example/"), -2),
            "the link's signature does not match",
        ),
        (
            sign(tracking_key(b"other" * 8), "click", "m-1", "https://shop.example/"),
            "the link's signature does not match",
        ),
        (sign(KEY, "open", "m-1"), "the link is not a click link of ours"),
        ("nodot", "the link is not a tracking link of ours"),
        ("a.", "the link is not a tracking link of ours"),
        ("é.é", "the link is not a tracking link of ours"),
        ("x" * 5000, "the link is not a tracking link of ours"),
    ],
)
def test_forged_altered_or_foreign_tokens_are_refused(token: str, message: str) -> None:
    with pytest.raises(Forbidden) as caught:
        verify(KEY, token, "click")
    assert (caught.value.code, caught.value.field) == ("invalid_tracking_token", "token")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://shop.example/a?b=c#d", True),
        ("http://shop.example", True),
        ("javascript:alert(1)", False),
        ("mailto:help@shop.example", False),
        ("//evil.example/", False),
        ("/relative", False),
        ("https://user:pass@shop.example/", False),
        ("https://shop.example/\r\nSet-Cookie: x", False),
        ("https:///no-host", False),
        ("https://shop.example/" + "a" * 3000, False),
    ],
)
def test_only_plain_web_links_are_tracked(url: str, ok: bool) -> None:
    assert trackable(url) is ok


def test_a_click_token_cannot_carry_a_link_that_is_not_a_web_address() -> None:
    with pytest.raises(ValueError, match="not a link to track"):
        sign(KEY, "click", "m-1", "javascript:alert(1)")


def test_web_links_are_rewritten_and_the_pixel_goes_before_the_body_ends() -> None:
    body = (
        "<html><body>\n"
        '<p>Hi <a href="https://shop.example/cart?a=1&amp;b=2" class="btn">your cart</a></p>\n'
        "<p><a href='https://shop.example/help'>help</a> · <a href=\"mailto:x@y.z\">mail</a>"
        ' · <a href="/relative">rel</a> · <a data-notrack href="https://shop.example/unsub">'
        "unsubscribe</a> · <A HREF=https://shop.example/x>bare</A></p>\n"
        "</body></html>"
    )
    seen: list[str] = []

    def link(url: str) -> str:
        seen.append(url)
        return f"https://cx.example/t/c/{len(seen)}?q=1&r=2"

    out = track_html(body, link, "https://cx.example/t/o/px.gif")

    assert seen == [
        "https://shop.example/cart?a=1&b=2",
        "https://shop.example/help",
        "https://shop.example/x",
    ]
    assert out == (
        "<html><body>\n"
        '<p>Hi <a href="https://cx.example/t/c/1?q=1&amp;r=2" class="btn">your cart</a></p>\n'
        '<p><a href="https://cx.example/t/c/2?q=1&amp;r=2">help</a> · <a href="mailto:x@y.z">'
        'mail</a> · <a href="/relative">rel</a> · <a data-notrack href="https://shop.example/'
        'unsub">unsubscribe</a> · <A HREF="https://cx.example/t/c/3?q=1&amp;r=2">bare</A></p>\n'
        '<img src="https://cx.example/t/o/px.gif" width="1" height="1" alt="" '
        'style="border:0;width:1px;height:1px"></body></html>'
    )


def test_an_email_without_a_body_tag_gets_the_pixel_at_the_end() -> None:
    out = tracked_email(
        '<p><a href="https://shop.example/">go</a></p>', KEY, "m-7", "https://cx.example/"
    )

    click = sign(KEY, "click", "m-7", "https://shop.example/")
    pixel = sign(KEY, "open", "m-7")
    assert out == (
        f'<p><a href="https://cx.example/t/c/{click}">go</a></p>'
        f'<img src="https://cx.example/t/o/{pixel}.gif" width="1" height="1" alt="" '
        'style="border:0;width:1px;height:1px">'
    )
