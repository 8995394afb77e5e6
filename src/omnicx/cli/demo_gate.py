"""Demo decisions of the policy gate, one of each kind, for three demo customers:

- an order update sent by email (transactional), handed to the demo's own mailbox, since a
  fresh demo has no SMTP relay;
- an offer to a customer whose time zone is in its quiet hours right now: deferred to the
  local morning;
- an offer to a customer who never opted in to marketing: skipped, with consent's reason.

Each is a real `Services.submit_send`; the send ids are fixed, so running the demo again
answers the same decisions."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rich.console import Console

from omnicx.bootstrap import Services
from omnicx.consent import Preferences
from omnicx.conversations import OutboundMessage, SendContext, SendResult
from omnicx.orchestration.gate import Content, Decision, SendIntent

CUSTOMERS = """
SELECT p.id FROM profiles p
WHERE p.id = p.canonical_id AND p.email IS NOT NULL
ORDER BY p.id
LIMIT 200
"""

NIGHT_ZONES = (
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Europe/Lisbon",
    "America/Sao_Paulo",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)


@dataclass
class DemoMailbox:
    """The demo's email channel: keeps what it is given, sends nothing anywhere."""

    channel: str = "email"
    kept: list[OutboundMessage] = field(default_factory=list)

    def can_send(self, ctx: SendContext) -> str | None:
        return None if ctx.to[0] == "email" else "the demo mailbox takes email only"

    def send(self, out: OutboundMessage) -> SendResult:
        self.kept.append(out)
        return SendResult(f"demo-{out.message_id}", "sent")


def night_zone(now: datetime, hours: tuple[int, int] = (21, 8)) -> str:
    """A time zone where it is quiet-hours night at `now`."""
    start, end = hours
    for name in NIGHT_ZONES:
        hour = now.astimezone(ZoneInfo(name)).hour
        if hour >= start or hour < end:
            return name
    return NIGHT_ZONES[0]


def load_demo_decisions(services: Services) -> dict[str, tuple[str, Decision]]:
    """Submit the three demo sends; their decisions by kind, with the customer."""
    with services.uow(write=False) as uow:
        ids = [str(i) for i in uow.conn.execute(sa.text(CUSTOMERS)).scalars()]

        def first(purpose: str, allowed: bool, taken: tuple[str | None, ...] = ()) -> str | None:
            for i in ids:
                if i not in taken:
                    answer = services.may_contact(uow, i, purpose, "email")
                    if answer.allowed == allowed:
                        return i
            return None

        traveller = first("marketing", True)
        refused = first("marketing", False, (traveller,))
        buyer = first("transactional", True, (traveller, refused))
    if traveller is None or refused is None or buyer is None:
        return {}
    mailbox = DemoMailbox()
    sending = services.sending
    real = sending.senders
    sending.senders = {**real, "email": mailbox}
    decisions: dict[str, tuple[str, Decision]] = {}
    try:
        with services.uow() as uow:
            now = uow.clock.now()
            zone = night_zone(now)
            services.consent(uow).set_preferences(
                traveller, Preferences(time_zone=zone), now, "demo"
            )
            decisions["sent"] = (
                buyer,
                services.submit_send(
                    uow,
                    SendIntent(
                        send_id="demo:order-shipped",
                        customer_id=buyer,
                        purpose="transactional",
                        category="order",
                        content=Content(
                            subject="Your order is on its way",
                            text="Hi {{ customer.first_name or 'there' }}, order {{ order }} "
                            "left our distribution centre today.",
                            variables={"order": "AUR-10421"},
                        ),
                        origin="system:demo",
                        priority=50,
                        channels=("email",),
                    ),
                ),
            )
            for kind, customer in (("deferred", traveller), ("skipped", refused)):
                decisions[kind] = (
                    customer,
                    services.submit_send(
                        uow,
                        SendIntent(
                            send_id=f"demo:spring-offer:{kind}",
                            customer_id=customer,
                            purpose="marketing",
                            category="promotion",
                            content=Content(
                                subject="Spring at Aurora",
                                text="20% off the new collection this week.",
                            ),
                            origin="broadcast:demo-spring",
                            priority=50,
                            channels=("email",),
                        ),
                    ),
                )
            uow.commit()
        with services.uow(write=False) as uow:
            queued = uow.conn.execute(
                sa.text(
                    "SELECT m.id FROM send_messages m JOIN sends s ON s.id = m.send_ref "
                    "WHERE s.send_id = 'demo:order-shipped' AND m.status = 'queued'"
                )
            ).scalars()
            waiting = [str(m) for m in queued]
        for message_id in waiting:
            sending.dispatch(message_id)
    finally:
        sending.senders = real
    return decisions


def show_demo_decisions(console: Console, services: Services) -> None:
    decisions = load_demo_decisions(services)
    if not decisions:
        return
    console.print("\nPolicy gate (GET /api/customers/{id}/decisions):", highlight=False)
    for kind, (customer, decision) in decisions.items():
        when = (
            f" until {decision.defer_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if decision.defer_until
            else ""
        )
        console.print(
            f"  {kind}: {customer}{when}: {decision.reason}", highlight=False, soft_wrap=True
        )
