"""Facts heard inside a savepoint that rolls back (one message of an inbound batch that
failed) leave the channel read models as they were; those of the savepoints that held count."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from omnicx.analytics import usage_query
from omnicx.analytics.reports import Economics
from omnicx.bootstrap import Services
from omnicx.commerce.messages import OrderPlaced
from omnicx.db import UnitOfWork
from omnicx.kernel import Event

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


class Refused(Exception):
    pass


@dataclass(frozen=True)
class Fails(Event):
    """Raised after an order in the same savepoint: its handler fails once the read model
    has heard the order, as a later reaction to an inbound message can."""


def fail(event: Fails, uow: UnitOfWork) -> None:
    raise Refused


def order(order_id: str, total: int) -> OrderPlaced:
    return OrderPlaced(order_id, f"customer-{order_id}", "web", None, total, "BRL", ("ship",), AT)


def failing(uow: UnitOfWork, placed: OrderPlaced) -> None:
    """A savepoint that hears `placed`, then fails in a later reaction."""

    def attempt() -> None:
        with uow.savepoint():
            uow.raise_event(placed)
            uow.raise_event(Fails())

    with pytest.raises(Refused):
        attempt()


def economics(services: Services) -> tuple[int, int]:
    query = usage_query("economics", today=date(2026, 3, 10), start=date(2026, 3, 1))
    with services.uow(write=False) as uow:
        report = services.analytics.report(uow, query)
    assert isinstance(report, Economics)
    return report.total.orders, report.total.revenue


@pytest.mark.parametrize("last_fails", [False, True])
def test_a_savepoint_rolled_back_takes_its_facts_with_it(
    services: Services, last_fails: bool
) -> None:
    services.bus.subscribe(Fails, fail)
    with services.uow() as uow:
        with uow.savepoint():
            uow.raise_event(order("o1", 1000))
        failing(uow, order("o2", 20000))
        with uow.savepoint():
            uow.raise_event(order("o3", 300))
        if last_fails:
            failing(uow, order("o4", 50000))
        uow.commit()
    assert economics(services) == (2, 1300)
