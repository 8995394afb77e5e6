"""Demo after-sales: three demo customers get a welcome bonus on their loyalty account; one
bought a dress online, had it delivered and exchanged size M for G at Store Paulista; another
bought two in the app, collected them at Pinheiros and brought one back damaged to Paulista,
refunded as store credit. Loaded once, after the demo's catalog and stock."""

from dataclasses import dataclass

import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.commerce import loyalty
from omnicx.commerce.orders import Address, GroupIn, LineIn, Payment, PlaceOrder
from omnicx.commerce.returns import ExchangeRequest, LineRequest, NewLine, ReturnRequest
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError

CUSTOMERS = """
SELECT p.id FROM profiles p
WHERE p.id = p.canonical_id AND p.email IS NOT NULL
ORDER BY p.id LIMIT 3
"""
ACTOR = "system:demo"
DRESS = "AUR-VES-0201-{}"
PRICE = 24990
WELCOME = 200
ADDRESS = Address("Cliente Demo", "Rua Augusta, 1500", "São Paulo", "01304-001", "BR")


@dataclass
class DemoAftersales:
    accounts: int = 0
    exchange: str | None = None
    returned: str | None = None
    skipped: bool = False


def _order(
    services: Services, uow: UnitOfWork, customer_id: str, channel: str, group: GroupIn, key: str
) -> str:
    qty = sum(line.qty for line in group.lines)
    order, _ = services.selling.place_order(
        uow,
        PlaceOrder(
            channel=channel,
            groups=(group,),
            customer_id=customer_id,
            payment=Payment(
                "card", services.quote(uow, group.lines[0].sku, channel).price.times(qty)
            ),
        ),
        key=key,
        actor=ACTOR,
    )
    uow.publish()
    return order.id


def load_demo_aftersales(services: Services) -> DemoAftersales:
    """Skipped when it ran before, or when the demo has no customers or stock."""
    with services.uow() as uow:
        if services.returns(uow).exchange_by_key("demo-exchange-1") is not None:
            return DemoAftersales(skipped=True)
        customers = [row.id for row in uow.conn.execute(sa.text(CUSTOMERS))]
        if len(customers) < 2:
            return DemoAftersales(skipped=True)
        ctx = services.loyalty_context(uow, ACTOR)
        for customer in customers:
            loyalty.earn(
                services.loyalty(uow), ctx, customer, WELCOME, key=f"demo-welcome-{customer}",
                channel="store", reason="welcome to Aurora Club",
            )  # fmt: skip
        # Each step's news is written before the next step starts (timeline ids follow).
        uow.publish()
        try:
            web = _order(
                services, uow, customers[0], "web",
                GroupIn("ship", (LineIn(DRESS.format("M"), 1),), address=ADDRESS), "demo-web-1",
            )  # fmt: skip
            for event in ("shipped", "delivered"):
                services.selling.record_event(uow, web, event, actor=ACTOR)
                uow.publish()
            exchange, _ = services.exchange(
                uow,
                ExchangeRequest(
                    web, "store-paulista",
                    (LineRequest(DRESS.format("M"), 1, "wrong_size", "resellable"),),
                    (NewLine(DRESS.format("G"), 1),), staff="Bruno",
                ),
                key="demo-exchange-1", actor=ACTOR,
            )  # fmt: skip
            uow.publish()
            app = _order(
                services, uow, customers[1], "app",
                GroupIn("pickup", (LineIn(DRESS.format("P"), 2),), "store-pinheiros"),
                "demo-app-1",
            )  # fmt: skip
            for event in ("ready_for_pickup", "collected"):
                services.selling.record_event(uow, app, event, actor=ACTOR)
                uow.publish()
            returned, _ = services.accept_return(
                uow,
                ReturnRequest(
                    app, "store-paulista",
                    (LineRequest(DRESS.format("P"), 1, "faulty", "damaged"),),
                    refund_to="store_credit", note="zip broken",
                ),
                key="demo-return-1", actor=ACTOR,
            )  # fmt: skip
        except DomainError:
            return DemoAftersales(skipped=True)
        uow.commit()
    return DemoAftersales(len(customers), exchange.id, returned.id)
