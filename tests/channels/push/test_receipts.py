"""Every provider's statuses map onto the seven normalised ones, and back onto the states
conversation and maestro messages keep."""

from datetime import UTC, datetime

import pytest

from omnicx.channels.receipts import (
    DELIVERY_STATES,
    PROVIDERS,
    STATUSES,
    TIMELINE_EVENTS,
    DeliveryReceipt,
    normalise,
)
from omnicx.conversations import DeliveryUpdate
from omnicx.conversations.model import DELIVERY_STATES as CONVERSATION_STATES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

TABLE = [
    ("twilio", "accepted", "queued"),
    ("twilio", "scheduled", "queued"),
    ("twilio", "queued", "queued"),
    ("twilio", "sending", "sent"),
    ("twilio", "sent", "sent"),
    ("twilio", "delivered", "delivered"),
    ("twilio", "read", "read"),
    ("twilio", "undelivered", "bounced"),
    ("twilio", "failed", "failed"),
    ("twilio", "canceled", "failed"),
    ("twilio", "receiving", None),
    ("whatsapp", "sent", "sent"),
    ("whatsapp", "delivered", "delivered"),
    ("whatsapp", "read", "read"),
    ("whatsapp", "failed", "failed"),
    ("whatsapp", "deleted", None),
    ("viber", "delivered", "delivered"),
    ("viber", "seen", "read"),
    ("viber", "failed", "failed"),
    ("viber", "subscribed", None),
    ("webpush", "delivered", "delivered"),
    ("webpush", "dismissed", "read"),
    ("webpush", "clicked", "clicked"),
    ("fcm", "delivered", "delivered"),
    ("fcm", "dismissed", "read"),
    ("fcm", "opened", "clicked"),
    ("in_app", "delivered", "delivered"),
    ("in_app", "read", "read"),
    ("in_app", "clicked", "clicked"),
    ("email", "delivered", "delivered"),
    ("email", "opened", "read"),
    ("email", "clicked", "clicked"),
    ("email", "bounced", "bounced"),
    ("email", "failed", "failed"),
    ("omnicx", "queued", "queued"),
    ("omnicx", "sent", "sent"),
    ("omnicx", "delivered", "delivered"),
    ("omnicx", "read", "read"),
    ("omnicx", "undelivered", "bounced"),
    ("omnicx", "failed", "failed"),
    ("carrier-pigeon", "delivered", None),
]


@pytest.mark.parametrize(("provider", "status", "expected"), TABLE)
def test_each_provider_status_normalises(provider: str, status: str, expected: str | None) -> None:
    assert normalise(provider, status) == expected
    assert normalise(provider, f"  {status.upper()} ") == expected


def test_the_table_covers_every_provider_status() -> None:
    listed = {(p, s) for p, s, _ in TABLE}
    assert {(p, s) for p, statuses in PROVIDERS.items() for s in statuses} <= listed
    assert {n for statuses in PROVIDERS.values() for n in statuses.values()} == set(STATUSES)


def test_every_normalised_status_maps_onto_a_conversation_state() -> None:
    assert set(DELIVERY_STATES) == set(STATUSES)
    assert set(DELIVERY_STATES.values()) <= set(CONVERSATION_STATES)
    assert DELIVERY_STATES["clicked"] == "read"
    assert DELIVERY_STATES["bounced"] == "undelivered"


def test_statuses_after_the_hand_over_have_timeline_events() -> None:
    assert TIMELINE_EVENTS == {
        "delivered": "Message Delivered",
        "read": "Message Read",
        "clicked": "Message Clicked",
        "bounced": "Message Bounced",
        "failed": "Message Failed",
    }


def test_a_conversation_update_becomes_a_receipt_and_back() -> None:
    update = DeliveryUpdate("sms", "SM1", "undelivered", NOW, "30003 unreachable")
    receipt = DeliveryReceipt.of(update)

    assert receipt == DeliveryReceipt(
        "sms", "SM1", "bounced", NOW, "30003 unreachable", "undelivered"
    )
    assert receipt.update() == update
    clicked = DeliveryReceipt("push", "m1", "clicked", NOW)
    assert clicked.update() == DeliveryUpdate("push", "m1", "read", NOW, None)
