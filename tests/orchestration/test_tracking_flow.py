"""Email tracking end to end, on SQLite and PostgreSQL: the gate's HTML emails carry signed
links and a pixel; an open and a click land as receipts of the send, move its message to
"read", and go on the customer's timeline; anything forged gets 403 and stores nothing; an
erased customer's receipts go with them."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.orchestration.gate import Content, MessageRecord, TemplateVariant
from omnicx.orchestration.messages import SendDelivered
from omnicx.orchestration.tracking import sign, tracking_key
from omnicx.privacy import ExportSection, ExportSubject, ResolveSubject
from tests.conftest import _api_key, table_counts
from tests.orchestration.test_sending import FakeRules, add_customer, intent

NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
HTML = (
    "<html><body><p>Hi {{ customer.first_name }}, your "
    '<a href="https://shop.example/cart?utm=mail&amp;id={{ cart }}">cart</a> waits.</p>'
    '<p><a href="mailto:help@shop.example">help</a></p></body></html>'
)
STORED = ("send_receipts", "events")


@dataclass
class World:
    services: Services
    client: TestClient
    clock: FixedClock
    email: FakeChannelSender
    admin: dict[str, str]
    delivered: list[SendDelivered]

    def send(self, customer: str, send_id: str = "s-1", **content: Any) -> None:
        body = content or {"template": "cart"}
        with self.services.uow() as uow:
            self.services.submit_send(
                uow,
                intent(
                    customer,
                    send_id,
                    purpose="transactional",
                    channels=("email",),
                    content=Content(**body, variables={"cart": "C-9"}),
                ),
            )
            uow.commit()
        self.services.process_outbox()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.services.engines.main.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def message(self, send_id: str = "s-1") -> MessageRecord:
        with self.services.uow(write=False) as uow:
            repo = self.services.sends(uow)
            send = repo.by_send_id(send_id)
            assert send is not None
            (found,) = repo.messages_of(send.id)
        return found

    def tracked(self) -> list[tuple[str, str | None]]:
        return [
            (r.event, r.channel)
            for r in self.rows("SELECT * FROM events WHERE source_id = 'tracking' ORDER BY id")
        ]


def world_for(make_settings: Callable[..., Settings], **settings: Any) -> Iterator[World]:
    clock = FixedClock(NOON)
    services = build(
        make_settings(
            quiet_hours="",
            channel_rates={},
            email_domain="shop.example",
            email_addresses="hello@shop.example",
            public_base_url="https://cx.example",
            **settings,
        ),
        clock=clock,
    )
    upgrade(services.engines)
    email = FakeChannelSender("email")
    services.sending.senders = {"email": email, "sms": FakeChannelSender("sms")}
    services.sending.rules = FakeRules()
    delivered: list[SendDelivered] = []
    services.bus.subscribe(SendDelivered, lambda event, uow: delivered.append(event))
    with services.uow() as uow:
        services.sending.put_template(
            uow,
            "cart",
            [TemplateVariant("", "email", "*", subject="Your cart", html=HTML, text="Cart")],
        )
        uow.commit()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield World(services, client, clock, email, _api_key(services, "admin"), delivered)
    finally:
        services.close()


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> Iterator[World]:
    yield from world_for(make_settings, email_tracking=True)


def links(html: str) -> tuple[str, str]:
    """(the click path, the pixel path) of a tracked email."""
    (click,) = re.findall(r'href="https://cx\.example(/t/c/[^"]+)"', html)
    (pixel,) = re.findall(r'src="https://cx\.example(/t/o/[^"]+\.gif)"', html)
    return click, pixel


def test_an_html_email_of_the_gate_gets_signed_links_and_a_pixel(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")

    world.send(ana)

    (out,) = world.email.sent
    assert out.html is not None
    assert 'href="mailto:help@shop.example"' in out.html  # left alone
    assert "https://shop.example/cart" not in out.html
    click, pixel = links(out.html)
    key = tracking_key(world.services.cipher.keyring.index_key)
    message = world.message()
    assert click == "/t/c/" + sign(
        key, "click", message.id, "https://shop.example/cart?utm=mail&id=C-9"
    )
    assert pixel == f"/t/o/{sign(key, 'open', message.id)}.gif"
    assert out.html.index("<img") < out.html.index("</body>")
    assert out.text == "Cart"


def test_an_open_is_a_read_receipt_and_goes_on_the_timeline_once(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")
    world.send(ana)
    _, pixel = links(world.email.sent[0].html or "")
    world.clock.advance(timedelta(minutes=5))

    first = world.client.get(pixel)
    again = world.client.get(pixel)

    for answer in (first, again):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/gif"
        assert answer.headers["cache-control"] == "no-store, private"
        assert answer.content.startswith(b"GIF89a")
    message = world.message()
    assert (message.status, message.delivered_at) == ("read", NOON + timedelta(minutes=5))
    assert world.rows("SELECT status FROM sends WHERE send_id = 's-1'")[0].status == "delivered"
    assert [(e.send_id, e.channel) for e in world.delivered] == [("s-1", "email")]
    assert world.tracked() == [("Email Opened", "email")]
    receipts = world.client.get("/api/sends/s-1/receipts", headers=world.admin).json()
    assert receipts["customer_id"] == ana
    assert [(r["kind"], r["link"], r["channel"]) for r in receipts["items"]] == [
        ("read", None, "email")
    ]
    timeline = world.client.get(f"/api/customers/{ana}/timeline", headers=world.admin).json()
    opened = [i for i in timeline["items"] if i["event"] == "Email Opened"]
    assert [(i["source_id"], i["properties"]["send_id"]) for i in opened] == [("tracking", "s-1")]
    decisions = world.client.get(f"/api/customers/{ana}/decisions", headers=world.admin).json()
    assert decisions["items"][0]["delivery"] == "read"


def test_a_click_redirects_to_the_signed_destination_and_is_recorded(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")
    world.send(ana)
    click, _ = links(world.email.sent[0].html or "")

    answer = world.client.get(click, follow_redirects=False)
    world.client.get(click, follow_redirects=False)

    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/cart?utm=mail&id=C-9"
    assert answer.headers["cache-control"] == "no-store, private"
    assert world.message().status == "read"  # a click proves the email arrived
    receipts = world.client.get("/api/sends/s-1/receipts", headers=world.admin).json()["items"]
    assert [(r["kind"], r["link"]) for r in receipts] == [
        ("read", None),
        ("clicked", "https://shop.example/cart?utm=mail&id=C-9"),
        ("clicked", "https://shop.example/cart?utm=mail&id=C-9"),
    ]
    assert world.tracked() == [("Email Link Clicked", "email"), ("Email Link Clicked", "email")]
    timeline = world.client.get(f"/api/customers/{ana}/timeline", headers=world.admin).json()
    clicked = [i for i in timeline["items"] if i["event"] == "Email Link Clicked"]
    assert [i["properties"]["url"] for i in clicked] == ["https://shop.example/cart"] * 2
    (sealed,) = world.rows("SELECT link FROM send_receipts WHERE kind = 'clicked' LIMIT 1")
    assert "shop.example" not in sealed.link  # the destination is sealed at rest


def _tampered(path: str) -> list[str]:
    prefix, token = path.rsplit("/", 1)
    body, _, rest = token.partition(".")
    return [
        f"{prefix}/{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{rest}",
        f"{prefix}/{body}.{'A' * 22}{'.gif' if rest.endswith('.gif') else ''}",
        f"{prefix}/nonsense{'.gif' if rest.endswith('.gif') else ''}",
    ]


def test_a_tampered_or_foreign_token_is_refused_and_nothing_is_stored(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")
    world.send(ana)
    click, pixel = links(world.email.sent[0].html or "")
    before = table_counts(world.services, *STORED)
    evil = sign(
        tracking_key(b"not our key" * 3), "click", world.message().id, "https://evil.example/"
    )
    opened_as_click = "/t/c/" + pixel.removeprefix("/t/o/").removesuffix(".gif")

    for path in [*_tampered(click), *_tampered(pixel), f"/t/c/{evil}", opened_as_click]:
        answer = world.client.get(path, follow_redirects=False)
        assert answer.status_code == 403, path
        assert answer.json()["error"]["code"] == "invalid_tracking_token"
        assert "location" not in answer.headers

    assert table_counts(world.services, *STORED) == before
    assert world.message().status == "sent"


def test_a_valid_link_of_a_message_that_is_gone_still_redirects_and_stores_nothing(
    world: World,
) -> None:
    key = tracking_key(world.services.cipher.keyring.index_key)
    before = table_counts(world.services, *STORED)

    answer = world.client.get(
        "/t/c/" + sign(key, "click", "no-such-message", "https://shop.example/"),
        follow_redirects=False,
    )
    pixel = world.client.get(f"/t/o/{sign(key, 'open', 'no-such-message')}.gif")

    assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example/")
    assert pixel.status_code == 200
    assert table_counts(world.services, *STORED) == before


def test_clicks_kept_per_message_are_bounded(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")
    world.send(ana)
    click, _ = links(world.email.sent[0].html or "")

    for _ in range(55):
        assert world.client.get(click, follow_redirects=False).status_code == 302

    counts = world.rows("SELECT kind, count(*) AS n FROM send_receipts GROUP BY kind ORDER BY kind")
    assert [(r.kind, r.n) for r in counts] == [("clicked", 50), ("read", 1)]


def test_text_emails_and_sms_are_not_tracked(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com", phone="+5511988887777")

    world.send(ana, "text-1", text="Plain https://shop.example/")

    assert world.email.sent[-1].html is None
    assert world.email.sent[-1].text == "Plain https://shop.example/"


def test_tracking_is_off_unless_turned_on(make_settings: Callable[..., Settings]) -> None:
    for world in world_for(make_settings):
        ana = add_customer(world.services, email="ana@example.com")
        world.send(ana)
        html = world.email.sent[0].html or ""
        assert "/t/c/" not in html
        assert "<img" not in html
        assert 'href="https://shop.example/cart?utm=mail&amp;id=C-9"' in html


def test_receipts_are_exported_and_erased_with_the_customer(world: World) -> None:
    ana = add_customer(world.services, email="ana@example.com")
    world.send(ana)
    click, pixel = links(world.email.sent[0].html or "")
    world.client.get(click, follow_redirects=False)

    bus = world.services.bus
    with world.services.uow(write=False) as uow:
        (subject,) = bus.ask(ResolveSubject(ana, world.services.cipher.reveal), uow)
        sections: list[ExportSection] = bus.ask(ExportSubject(subject), uow)
    (mine,) = [s for s in sections if s.domain == "maestro_tracking"]
    assert [(r["kind"], r["link"]) for r in mine.tables["send_receipts"]] == [
        ("read", None),
        ("clicked", "https://shop.example/cart?utm=mail&id=C-9"),
    ]

    erased = world.client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": ana, "reason": "ticket 12"},
        headers=world.admin,
    )
    assert erased.status_code == 201, erased.text
    assert erased.json()["counts"]["maestro_tracking"] == {"send_receipts": 2}
    assert table_counts(world.services, "send_receipts") == {"send_receipts": 0}
    after = world.client.get(click, follow_redirects=False)
    assert (after.status_code, after.headers["location"]) == (
        302,
        "https://shop.example/cart?utm=mail&id=C-9",
    )
    assert world.client.get(pixel).status_code == 200
    assert table_counts(world.services, "send_receipts") == {"send_receipts": 0}
