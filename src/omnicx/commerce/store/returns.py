"""SQL storage of returns, exchanges and refunds.

`commerce_returned_units` holds, per (order, SKU), how many units came back: one conditional
UPDATE (`qty + n <= bought`) decides whether a return may take them, so two returns of the same
line at two stores at once never take back more than was bought. A return's note is free text
and sealed; the rest is amounts, SKUs, locations and staff names. Rows naming a customer
(`customer_id`) are exported with them and keep their amounts under no name after an erasure.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.commerce.model import Money
from omnicx.commerce.returns import Exchange, Refund, Return, ReturnLine, SaleLine
from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata

ID = 36
ORDER = 64
LOCATION = 64
SKU = 64
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

commerce_returns = sa.Table(
    "commerce_returns",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(ORDER), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=True, index=True),
    sa.Column("order_channel", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("location_id", sa.String(LOCATION), nullable=False, index=True),
    sa.Column("refund_to", sa.String(20), nullable=False),
    sa.Column("refund", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("tender", sa.String(40), nullable=True),
    sa.Column("points_reversed", sa.Integer(), nullable=False),
    sa.Column("exchange_id", sa.String(ID), nullable=True),
    sa.Column("staff", sa.String(200), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

commerce_return_lines = sa.Table(
    "commerce_return_lines",
    metadata,
    sa.Column("return_id", sa.String(ID), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("sku", sa.String(SKU), nullable=False),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("condition", sa.String(12), nullable=False),
    sa.Column("refund", sa.BigInteger(), nullable=False),
    sa.Column("movement_id", sa.BigInteger(), nullable=True),
    sa.CheckConstraint("qty > 0", name="qty"),
)

commerce_returned_units = sa.Table(
    "commerce_returned_units",
    metadata,
    sa.Column("order_id", sa.String(ORDER), primary_key=True),
    sa.Column("sku", sa.String(SKU), primary_key=True),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("qty >= 0", name="qty"),
)
"""Units of each SKU of an order returned so far: the guard against returning more."""

commerce_refunds = sa.Table(
    "commerce_refunds",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("order_id", sa.String(ORDER), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=True, index=True),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("tender", sa.String(40), nullable=True),
    sa.Column("return_id", sa.String(ID), nullable=True, index=True),
    sa.Column("exchange_id", sa.String(ID), nullable=True, index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("amount > 0", name="amount"),
)

commerce_exchanges = sa.Table(
    "commerce_exchanges",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(ORDER), nullable=False, index=True),
    sa.Column("return_id", sa.String(ID), nullable=False),
    sa.Column("new_order_id", sa.String(ORDER), nullable=True),
    sa.Column("customer_id", sa.String(ID), nullable=True, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("location_id", sa.String(LOCATION), nullable=False),
    sa.Column("returned_value", sa.BigInteger(), nullable=False),
    sa.Column("new_value", sa.BigInteger(), nullable=False),
    sa.Column("difference", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("settlement", sa.String(10), nullable=False),
    sa.Column("refund_to", sa.String(20), nullable=False),
    sa.Column("payment_method", sa.String(40), nullable=True),
    sa.Column("lines", JsonValue, nullable=False),
    sa.Column("points_earned", sa.Integer(), nullable=False),
    sa.Column("staff", sa.String(200), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

CUSTOMER_TABLES = (commerce_returns, commerce_refunds, commerce_exchanges)


def _sale_line(data: dict[str, Any], currency: str) -> SaleLine:
    return SaleLine(
        sku=data["sku"],
        qty=data["qty"],
        unit_price=Money(data["unit_price"], currency),
        total=Money(data["total"], currency),
        location_id=data["location_id"],
        fulfilment=data["fulfilment"],
        reservation_id=data.get("reservation_id"),
    )


def _sale_json(line: SaleLine) -> dict[str, Any]:
    return {
        "sku": line.sku,
        "qty": line.qty,
        "unit_price": line.unit_price.amount,
        "total": line.total.amount,
        "location_id": line.location_id,
        "fulfilment": line.fulfilment,
        "reservation_id": line.reservation_id,
    }


class SqlReturnsRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher
        self.postgres = conn.dialect.name == "postgresql"

    # -- returns -------------------------------------------------------------------------------

    def lock_key(self, key: str) -> None:
        if self.postgres:
            self.conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )

    def _lines(self, return_ids: Collection[str]) -> dict[str, list[Any]]:
        t = commerce_return_lines
        found: dict[str, list[Any]] = {}
        ids = sorted(return_ids)
        for start in range(0, len(ids), 500):
            rows = self.conn.execute(
                sa.select(t)
                .where(t.c.return_id.in_(ids[start : start + 500]))
                .order_by(t.c.return_id, t.c.position)
            )
            for row in rows:
                found.setdefault(row.return_id, []).append(row)
        return found

    def _returns(self, rows: list[Any]) -> list[Return]:
        lines = self._lines([row.id for row in rows])
        found = []
        for row in rows:
            values = dict(row._mapping)
            currency = values.pop("currency")
            values["refund"] = Money(values["refund"], currency)
            values["note"] = self.cipher.reveal(values["note"])
            values["lines"] = tuple(
                ReturnLine(
                    sku=line.sku,
                    qty=line.qty,
                    reason=line.reason,
                    condition=line.condition,
                    refund=Money(line.refund, currency),
                    movement_id=line.movement_id,
                )
                for line in lines.get(row.id, [])
            )
            found.append(Return(**values))
        return found

    def return_by_key(self, key: str) -> Return | None:
        t = commerce_returns
        rows = list(self.conn.execute(sa.select(t).where(t.c.key == key)))
        return next(iter(self._returns(rows)), None)

    def get_return(self, return_id: str) -> Return | None:
        t = commerce_returns
        rows = list(self.conn.execute(sa.select(t).where(t.c.id == return_id)))
        return next(iter(self._returns(rows)), None)

    def returns(
        self,
        *,
        customer_ids: Collection[str] | None = None,
        order_id: str | None = None,
        location_id: str | None = None,
        limit: int = 100,
    ) -> list[Return]:
        t = commerce_returns
        query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        if customer_ids is not None:
            if not customer_ids:
                return []
            query = query.where(t.c.customer_id.in_(sorted(customer_ids)))
        if order_id is not None:
            query = query.where(t.c.order_id == order_id)
        if location_id is not None:
            query = query.where(t.c.location_id == location_id)
        return self._returns(list(self.conn.execute(query)))

    def returned(self, order_id: str) -> dict[str, int]:
        t = commerce_returned_units
        rows = self.conn.execute(sa.select(t.c.sku, t.c.qty).where(t.c.order_id == order_id))
        return {row.sku: row.qty for row in rows}

    def count_returned(self, order_id: str, sku: str, qty: int, bought: int, now: datetime) -> bool:
        t = commerce_returned_units
        dialect = postgresql if self.postgres else sqlite
        self.conn.execute(
            dialect.insert(t)
            .values(order_id=order_id, sku=sku, qty=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["order_id", "sku"])
        )
        result = self.conn.execute(
            t.update()
            .where(t.c.order_id == order_id, t.c.sku == sku, t.c.qty + qty <= bought)
            .values(qty=t.c.qty + qty, updated_at=now)
        )
        return bool(result.rowcount == 1)

    def add_return(self, item: Return) -> None:
        values = dict(item.__dict__)
        lines = values.pop("lines")
        values["currency"] = item.refund.currency
        values["refund"] = item.refund.amount
        values["note"] = self.cipher.seal_if(True, item.note)
        self.conn.execute(commerce_returns.insert().values(**values))
        if lines:
            self.conn.execute(
                commerce_return_lines.insert(),
                [
                    {
                        "return_id": item.id,
                        "position": index,
                        "sku": line.sku,
                        "qty": line.qty,
                        "reason": line.reason,
                        "condition": line.condition,
                        "refund": line.refund.amount,
                        "movement_id": line.movement_id,
                    }
                    for index, line in enumerate(lines)
                ],
            )

    def set_movement(self, return_id: str, index: int, movement_id: int) -> None:
        t = commerce_return_lines
        self.conn.execute(
            t.update()
            .where(t.c.return_id == return_id, t.c.position == index)
            .values(movement_id=movement_id)
        )

    # -- refunds -------------------------------------------------------------------------------

    def add_refund(self, refund: Refund) -> None:
        values = dict(refund.__dict__)
        values["currency"] = refund.amount.currency
        values["amount"] = refund.amount.amount
        self.conn.execute(commerce_refunds.insert().values(**values))

    def refunds(
        self, *, return_id: str | None = None, exchange_id: str | None = None
    ) -> list[Refund]:
        t = commerce_refunds
        query = sa.select(t).order_by(t.c.created_at, t.c.id)
        if return_id is not None:
            query = query.where(t.c.return_id == return_id)
        if exchange_id is not None:
            query = query.where(t.c.exchange_id == exchange_id)
        found = []
        for row in self.conn.execute(query):
            values = dict(row._mapping)
            values["amount"] = Money(values["amount"], values.pop("currency"))
            found.append(Refund(**values))
        return found

    # -- exchanges -----------------------------------------------------------------------------

    def _exchange(self, row: Any) -> Exchange:
        values = dict(row._mapping)
        currency = values.pop("currency")
        for name in ("returned_value", "new_value", "difference"):
            values[name] = Money(values[name], currency)
        values["lines"] = tuple(_sale_line(line, currency) for line in values["lines"])
        return Exchange(**values)

    def exchange_by_key(self, key: str) -> Exchange | None:
        t = commerce_exchanges
        row = self.conn.execute(sa.select(t).where(t.c.key == key)).first()
        return None if row is None else self._exchange(row)

    def get_exchange(self, exchange_id: str) -> Exchange | None:
        t = commerce_exchanges
        row = self.conn.execute(sa.select(t).where(t.c.id == exchange_id)).first()
        return None if row is None else self._exchange(row)

    def exchanges(
        self, *, customer_ids: Collection[str] | None = None, limit: int = 100
    ) -> list[Exchange]:
        t = commerce_exchanges
        query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        if customer_ids is not None:
            if not customer_ids:
                return []
            query = query.where(t.c.customer_id.in_(sorted(customer_ids)))
        return [self._exchange(row) for row in self.conn.execute(query)]

    def add_exchange(self, item: Exchange) -> None:
        values = dict(item.__dict__)
        values["currency"] = item.new_value.currency
        for name in ("returned_value", "new_value", "difference"):
            values[name] = getattr(item, name).amount
        values["lines"] = [_sale_json(line) for line in item.lines]
        self.conn.execute(commerce_exchanges.insert().values(**values))

    # -- privacy -------------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(customer_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        return_ids: list[str] = []
        for table in CUSTOMER_TABLES:
            rows = (
                [
                    dict(row._mapping)
                    for row in self.conn.execute(
                        sa.select(table).where(table.c.customer_id.in_(ids))
                    )
                ]
                if ids
                else []
            )
            if table is commerce_returns:
                for row in rows:
                    row["note"] = self.cipher.reveal(row["note"])
                return_ids = [row["id"] for row in rows]
            found[str(table.name)] = rows
        t = commerce_return_lines
        found[str(t.name)] = (
            [
                dict(row._mapping)
                for row in self.conn.execute(
                    sa.select(t).where(t.c.return_id.in_(return_ids)).order_by(t.c.return_id)
                )
            ]
            if return_ids
            else []
        )
        return found

    def deidentify(self, customer_ids: Collection[str]) -> dict[str, int]:
        """Returns, exchanges and refunds stay for the books (amounts, dates, SKUs, places)
        under no name: the customer id, the note and the staff's words about them go."""
        ids = sorted(customer_ids)
        counts: dict[str, int] = {}
        for table in CUSTOMER_TABLES:
            changes: dict[str, Any] = {"customer_id": None}
            if table is commerce_returns:
                changes["note"] = None
            counts[str(table.name)] = (
                int(
                    self.conn.execute(
                        table.update().where(table.c.customer_id.in_(ids)).values(**changes)
                    ).rowcount
                )
                if ids
                else 0
            )
        return counts
