"""Demo consents: some customers opted in to offers by email (double opt-in done), some by
WhatsApp at a store, some said PARAR by SMS or "not interested" to an agent, a few set quiet
hours, and one address bounced. Loaded once, after the demo's events, as an import of past
consents: kept with their history and announced on the bus, not added to the timeline."""

import random
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rich.console import Console

from omnicx.bootstrap import Services
from omnicx.consent import (
    ConsentChange,
    ConsentChanged,
    ConsentSource,
    Preferences,
    Wish,
    parse_quiet_hours,
)
from omnicx.consent import services as consent
from omnicx.kernel import new_id

CUSTOMERS = """
SELECT p.id FROM profiles p
WHERE p.id = p.canonical_id AND p.email IS NOT NULL AND p.phone IS NOT NULL
ORDER BY p.id
"""


@dataclass
class DemoConsents:
    opted_in: int = 0
    opted_out: int = 0
    preferences: int = 0
    suppressed: int = 0
    skipped: bool = False


def show_demo_consents(console: Console, services: Services) -> DemoConsents:
    """Load the demo's consents and say so."""
    done = load_demo_consents(services)
    if not done.skipped:
        console.print(
            f"Consents: {done.opted_in} opted in, {done.opted_out} opted out (SMS PARAR or an "
            f"agent), {done.preferences} with quiet hours, one bounced address "
            "(GET /api/customers/{id}/consents).",
            highlight=False,
        )
    return done


def load_demo_consents(services: Services, seed: int = 7, customers: int = 400) -> DemoConsents:
    """Record the demo's consents for up to `customers` customers known by email and phone;
    nothing when consents exist already."""
    done = DemoConsents()
    with services.uow(write=False) as uow:
        if uow.conn.execute(sa.text("SELECT count(*) FROM consent_changes")).scalar_one():
            done.skipped = True
            return done
        ids = [str(r) for r in uow.conn.execute(sa.text(CUSTOMERS)).scalars()][:customers]
    pick = random.Random(seed)
    center = services.consent_center
    evening = parse_quiet_hours("21:00-08:00")
    web = {"form_text": "Quero receber ofertas da Aurora", "form_version": "1"}
    with services.uow() as uow:
        repo = center.repo(uow)

        def seed_consents(
            customer: str, wishes: list[Wish], source: ConsentSource, detail: str, **extra: Any
        ) -> None:
            now = uow.clock.now()
            changes = [
                ConsentChange(
                    new_id(),
                    customer,
                    w.purpose,
                    w.channel,
                    w.state,
                    now,
                    source,
                    "demo",
                    now,
                    detail=detail,
                    **extra,
                )
                for w in wishes
            ]
            repo.add_changes(changes)
            for c in changes:
                uow.raise_event(
                    ConsentChanged(customer, c.purpose, c.channel, c.state, now, source.method)
                )

        for customer in ids:
            roll = pick.random()
            if roll < 0.45:
                seed_consents(
                    customer,
                    [Wish("marketing", "email", "granted"), Wish("feedback", "email", "granted")],
                    ConsentSource("web", "customer", "double_opt_in", customer),
                    "double opt-in",
                    proof=web,
                )
                done.opted_in += 1
            elif roll < 0.6:
                seed_consents(
                    customer,
                    [Wish("marketing", "whatsapp", "granted")],
                    ConsentSource("store", "store", "store", "demo-associate", "loja-paulista"),
                    "store",
                    proof={"form_text": "Aceito ofertas pelo WhatsApp"},
                )
                done.opted_in += 1
            elif roll < 0.7:
                seed_consents(
                    customer,
                    [
                        Wish("marketing", "*", "revoked"),
                        Wish("service", "sms", "revoked"),
                        Wish("feedback", "sms", "revoked"),
                    ],
                    ConsentSource("sms", "customer", "keyword", customer),
                    "keyword PARAR",
                    proof={"keyword": "PARAR"},
                )
                done.opted_out += 1
            elif roll < 0.75:
                seed_consents(
                    customer,
                    [Wish("marketing", "*", "revoked")],
                    ConsentSource("call_center", "agent", "agent", "demo-agent"),
                    "agent opt-out",
                    note="Disse que não tem interesse em ofertas",
                )
                done.opted_out += 1
            if pick.random() < 0.2:
                consent.change_preferences(
                    repo,
                    customer,
                    Preferences(
                        channel_order=("whatsapp", "email"),
                        language="pt-BR",
                        time_zone="America/Sao_Paulo",
                        quiet_hours=evening,
                        max_per_week=3,
                    ),
                    now=uow.clock.now(),
                    by="demo",
                )
                done.preferences += 1
        consent.suppress(
            repo,
            "email",
            "devolvido@aurora-demo.invalid",
            "bounced",
            channel=None,
            note="550 mailbox unavailable",
            region=services.settings.default_region,
            now=uow.clock.now(),
            by="demo",
        )
        done.suppressed = 1
        uow.commit()
    return done
