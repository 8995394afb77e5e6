"""SQL storage of carts and orders: carts and their lines, orders with their fulfilment
groups, lines, allocations (which reservation holds which units where) and status history.

Personal data is sealed: the customer's name and note on an order, a group's delivery
address. An anonymous cart keeps only the keyed hash of its anonymous id. Amounts are integer
minor units. On erasure an order keeps its amounts, dates and SKUs under the erasure request's
id (`erasure_ref`) and loses the customer, the name, the note and the addresses.
"""

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.commerce.carts import Cart, CartLine
from omnicx.commerce.model import Money
from omnicx.commerce.orders import (
    Address,
    Allocated,
    Group,
    HistoryEntry,
    Order,
    OrderLine,
    Payment,
)
from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata

ID = 36
LOCATION = 64
SKU = 64
CHANNEL = 40
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

commerce_carts = sa.Table(
    "commerce_carts",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("owner_key", sa.String(100), nullable=True, unique=True),
    sa.Column("customer_id", sa.String(ID), nullable=True, index=True),
    sa.Column("anonymous_hash", sa.String(64), nullable=True, index=True),
    sa.Column("channel", sa.String(CHANNEL), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("order_id", sa.String(ID), nullable=True),
    sa.Column("merged_into", sa.String(ID), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False, index=True),
)
"""`owner_key` ("c:<customer>" or "a:<anonymous hash>") is set while the cart is open: one
open cart per owner."""

commerce_cart_lines = sa.Table(
    "commerce_cart_lines",
    metadata,
    sa.Column("cart_id", sa.String(ID), primary_key=True),
    sa.Column("sku", sa.String(SKU), primary_key=True),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("unit_amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("channel", sa.String(CHANNEL), nullable=False),
    sa.Column("price_reason", sa.String(500), nullable=True),
    sa.Column("quoted_at", UtcDateTime(), nullable=False),
    sa.Column("added_at", UtcDateTime(), nullable=False),
)

commerce_orders = sa.Table(
    "commerce_orders",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(CHANNEL), nullable=False),
    sa.Column("location_id", sa.String(LOCATION), nullable=True),
    sa.Column("customer_id", sa.String(ID), nullable=True),
    sa.Column("customer_name", sa.Text(), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subtotal", sa.BigInteger(), nullable=False),
    sa.Column("total", sa.BigInteger(), nullable=False),
    sa.Column("payment_method", sa.String(40), nullable=True),
    sa.Column("payment_reference", sa.String(200), nullable=True),
    sa.Column("payment_amount", sa.BigInteger(), nullable=True),
    sa.Column("external_ref", sa.String(100), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("cart_id", sa.String(ID), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("erasure_ref", sa.String(ID), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_commerce_orders_customer_id_created_at", "customer_id", "created_at"),
    sa.Index("ix_commerce_orders_created_at", "created_at"),
)

commerce_order_groups = sa.Table(
    "commerce_order_groups",
    metadata,
    sa.Column("order_id", sa.String(ID), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("location_id", sa.String(LOCATION), nullable=True),
    sa.Column("address", JsonValue, nullable=True),
    sa.Column("pickup_by", UtcDateTime(), nullable=True),
    sa.Column("tracking", sa.String(200), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

commerce_order_lines = sa.Table(
    "commerce_order_lines",
    metadata,
    sa.Column("order_id", sa.String(ID), primary_key=True),
    sa.Column("line_no", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("group_position", sa.Integer(), nullable=False),
    sa.Column("sku", sa.String(SKU), nullable=False, index=True),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("unit_amount", sa.BigInteger(), nullable=False),
    sa.Column("base_amount", sa.BigInteger(), nullable=False),
    sa.Column("price_reason", sa.String(500), nullable=True),
    sa.Column("promotion_id", sa.String(ID), nullable=True),
    sa.Column("price_source", sa.String(12), nullable=False),
)

commerce_order_allocations = sa.Table(
    "commerce_order_allocations",
    metadata,
    sa.Column("order_id", sa.String(ID), primary_key=True),
    sa.Column("line_no", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("location_id", sa.String(LOCATION), primary_key=True),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("reservation_id", sa.String(ID), nullable=False, index=True),
    sa.Column("status", sa.String(10), nullable=False),
)

commerce_order_history = sa.Table(
    "commerce_order_history",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(ID), nullable=False, index=True),
    sa.Column("group_position", sa.Integer(), nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)


class SqlOrderRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _seal(self, value: Any) -> Any:
        return self.cipher.seal_if(True, value)

    def _open(self, value: Any) -> Any:
        return self.cipher.reveal(value)

    def blind_anonymous(self, anonymous_id: str) -> str:
        return self.cipher.blind("anonymous_id", anonymous_id)

    # -- carts -------------------------------------------------------------------------------

    def _cart(self, row: Any, lines: Sequence[Any]) -> Cart:
        return Cart(
            id=row.id,
            channel=row.channel,
            currency=row.currency,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            customer_id=row.customer_id,
            anonymous_hash=row.anonymous_hash,
            order_id=row.order_id,
            merged_into=row.merged_into,
            lines=tuple(
                CartLine(
                    sku=line.sku,
                    qty=line.qty,
                    unit_price=Money(line.unit_amount, line.currency),
                    channel=line.channel,
                    quoted_at=line.quoted_at,
                    added_at=line.added_at,
                    price_reason=line.price_reason,
                )
                for line in sorted(lines, key=lambda x: (x.added_at, x.sku))
            ),
        )

    def _carts(self, where: Any) -> list[Cart]:
        rows = self.conn.execute(
            sa.select(commerce_carts).where(where).order_by(commerce_carts.c.created_at)
        ).all()
        if not rows:
            return []
        lines: dict[str, list[Any]] = {}
        for line in self.conn.execute(
            sa.select(commerce_cart_lines).where(
                commerce_cart_lines.c.cart_id.in_([row.id for row in rows])
            )
        ):
            lines.setdefault(line.cart_id, []).append(line)
        return [self._cart(row, lines.get(row.id, [])) for row in rows]

    def cart(self, cart_id: str) -> Cart | None:
        found = self._carts(commerce_carts.c.id == cart_id)
        return found[0] if found else None

    def cart_of(self, owner_key: str) -> Cart | None:
        found = self._carts(commerce_carts.c.owner_key == owner_key)
        return found[0] if found else None

    def open_carts_of_anonymous(self, hashes: Collection[str]) -> list[Cart]:
        if not hashes:
            return []
        return self._carts(
            sa.and_(
                commerce_carts.c.anonymous_hash.in_(sorted(hashes)),
                commerce_carts.c.status == "open",
            )
        )

    def add_cart(self, cart: Cart) -> None:
        self.conn.execute(commerce_carts.insert().values(**self._cart_row(cart)))
        self._put_lines(cart)

    def save_cart(self, cart: Cart) -> None:
        """The cart's row and lines as they now are."""
        self.conn.execute(
            commerce_carts.update()
            .where(commerce_carts.c.id == cart.id)
            .values(**self._cart_row(cart))
        )
        self.conn.execute(
            commerce_cart_lines.delete().where(commerce_cart_lines.c.cart_id == cart.id)
        )
        self._put_lines(cart)

    def _cart_row(self, cart: Cart) -> dict[str, Any]:
        return {
            "id": cart.id,
            "owner_key": cart.owner_key,
            "customer_id": cart.customer_id,
            "anonymous_hash": cart.anonymous_hash,
            "channel": cart.channel,
            "currency": cart.currency,
            "status": cart.status,
            "order_id": cart.order_id,
            "merged_into": cart.merged_into,
            "created_at": cart.created_at,
            "updated_at": cart.updated_at,
        }

    def _put_lines(self, cart: Cart) -> None:
        if not cart.lines:
            return
        self.conn.execute(
            commerce_cart_lines.insert(),
            [
                {
                    "cart_id": cart.id,
                    "sku": line.sku,
                    "qty": line.qty,
                    "unit_amount": line.unit_price.amount,
                    "currency": line.unit_price.currency,
                    "channel": line.channel,
                    "price_reason": line.price_reason,
                    "quoted_at": line.quoted_at,
                    "added_at": line.added_at,
                }
                for line in cart.lines
            ],
        )

    def delete_carts(self, cart_ids: Collection[str]) -> int:
        if not cart_ids:
            return 0
        ids = sorted(cart_ids)
        self.conn.execute(
            commerce_cart_lines.delete().where(commerce_cart_lines.c.cart_id.in_(ids))
        )
        result = self.conn.execute(commerce_carts.delete().where(commerce_carts.c.id.in_(ids)))
        return int(result.rowcount)

    def idle_carts(self, before: datetime, limit: int) -> list[str]:
        """Open (and merged-away) carts untouched since `before`, oldest first."""
        rows = self.conn.execute(
            sa.select(commerce_carts.c.id)
            .where(
                commerce_carts.c.status.in_(["open", "merged"]),
                commerce_carts.c.updated_at < before,
            )
            .order_by(commerce_carts.c.updated_at, commerce_carts.c.id)
            .limit(limit)
        )
        return [row.id for row in rows]

    # -- orders ------------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        self.conn.execute(
            commerce_orders.insert().values(
                id=order.id,
                idempotency_key=order.key,
                fingerprint=order.fingerprint,
                channel=order.channel,
                location_id=order.location_id,
                customer_id=order.customer_id,
                customer_name=self._seal(order.customer_name),
                status=order.status,
                currency=order.currency,
                subtotal=order.subtotal.amount,
                total=order.total.amount,
                payment_method=order.payment.method if order.payment else None,
                payment_reference=order.payment.reference if order.payment else None,
                payment_amount=order.payment.amount.amount if order.payment else None,
                external_ref=order.external_ref,
                note=self._seal(order.note),
                cart_id=order.cart_id,
                actor=order.actor,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        )
        self.conn.execute(
            commerce_order_groups.insert(),
            [self._group_row(order.id, group) for group in order.groups],
        )
        self.conn.execute(
            commerce_order_lines.insert(),
            [
                {
                    "order_id": order.id,
                    "line_no": line.line_no,
                    "group_position": line.group,
                    "sku": line.sku,
                    "qty": line.qty,
                    "unit_amount": line.unit_price.amount,
                    "base_amount": line.base_price.amount,
                    "price_reason": line.price_reason,
                    "promotion_id": line.promotion_id,
                    "price_source": line.price_source,
                }
                for line in order.lines
            ],
        )
        self.conn.execute(
            commerce_order_allocations.insert(),
            [self._allocation_row(order.id, a) for a in order.allocations],
        )
        self.add_history(order.id, order.history)

    def _group_row(self, order_id: str, group: Group) -> dict[str, Any]:
        address = group.address.__dict__ if group.address is not None else None
        return {
            "order_id": order_id,
            "position": group.position,
            "type": group.type,
            "status": group.status,
            "location_id": group.location_id,
            "address": self._seal(address),
            "pickup_by": group.pickup_by,
            "tracking": group.tracking,
            "updated_at": group.updated_at,
        }

    @staticmethod
    def _allocation_row(order_id: str, allocation: Allocated) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "line_no": allocation.line_no,
            "location_id": allocation.location_id,
            "qty": allocation.qty,
            "reservation_id": allocation.reservation_id,
            "status": allocation.status,
        }

    def add_history(self, order_id: str, entries: Iterable[HistoryEntry]) -> None:
        rows = [
            {
                "order_id": order_id,
                "group_position": e.group,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor": e.actor,
                "at": e.at,
            }
            for e in entries
        ]
        if rows:
            self.conn.execute(commerce_order_history.insert(), rows)

    def save_progress(
        self, order: Order, groups: Collection[int], new_history: Sequence[HistoryEntry]
    ) -> None:
        """The order's status, the named groups and every allocation as they now are, and
        the history entries that got them there."""
        self.conn.execute(
            commerce_orders.update()
            .where(commerce_orders.c.id == order.id)
            .values(status=order.status, updated_at=order.updated_at)
        )
        for group in order.groups:
            if group.position in groups:
                self.conn.execute(
                    commerce_order_groups.update()
                    .where(
                        commerce_order_groups.c.order_id == order.id,
                        commerce_order_groups.c.position == group.position,
                    )
                    .values(
                        status=group.status,
                        pickup_by=group.pickup_by,
                        tracking=group.tracking,
                        updated_at=group.updated_at,
                    )
                )
        for allocation in order.allocations:
            self.conn.execute(
                commerce_order_allocations.update()
                .where(
                    commerce_order_allocations.c.order_id == order.id,
                    commerce_order_allocations.c.line_no == allocation.line_no,
                    commerce_order_allocations.c.location_id == allocation.location_id,
                )
                .values(reservation_id=allocation.reservation_id, status=allocation.status)
            )
        self.add_history(order.id, new_history)

    def order_by_key(self, key: str) -> Order | None:
        found = self._orders(commerce_orders.c.idempotency_key == key)
        return found[0] if found else None

    def order(self, order_id: str) -> Order | None:
        found = self._orders(commerce_orders.c.id == order_id)
        return found[0] if found else None

    def orders(
        self,
        *,
        customer_ids: Collection[str] | None = None,
        channel: str | None = None,
        status: str | None = None,
        location_id: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Order]:
        """Newest first; `before` is the (created_at, id) of the previous page's last order."""
        o = commerce_orders.c
        where: list[Any] = []
        if customer_ids is not None:
            where.append(o.customer_id.in_(sorted(customer_ids)))
        if channel is not None:
            where.append(o.channel == channel)
        if status is not None:
            where.append(o.status == status)
        if location_id is not None:
            held = sa.select(commerce_order_allocations.c.order_id).where(
                commerce_order_allocations.c.location_id == location_id
            )
            picked = sa.select(commerce_order_groups.c.order_id).where(
                commerce_order_groups.c.location_id == location_id
            )
            where.append(sa.or_(o.location_id == location_id, o.id.in_(held), o.id.in_(picked)))
        if before is not None:
            where.append(
                sa.or_(
                    o.created_at < before[0], sa.and_(o.created_at == before[0], o.id < before[1])
                )
            )
        return self._orders(sa.and_(sa.true(), *where), limit=limit)

    def _orders(self, where: Any, limit: int | None = None) -> list[Order]:
        query = (
            sa.select(commerce_orders)
            .where(where)
            .order_by(commerce_orders.c.created_at.desc(), commerce_orders.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        rows = self.conn.execute(query).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        parts: dict[str, dict[str, list[Any]]] = {i: {} for i in ids}
        for name, table, order_by in (
            ("groups", commerce_order_groups, commerce_order_groups.c.position),
            ("lines", commerce_order_lines, commerce_order_lines.c.line_no),
            ("allocations", commerce_order_allocations, commerce_order_allocations.c.line_no),
            ("history", commerce_order_history, commerce_order_history.c.id),
        ):
            for part in self.conn.execute(
                sa.select(table).where(table.c.order_id.in_(ids)).order_by(order_by)
            ):
                parts[part.order_id].setdefault(name, []).append(part)
        return [self._order(row, parts[row.id]) for row in rows]

    def _order(self, row: Any, parts: dict[str, list[Any]]) -> Order:
        currency = row.currency
        payment = None
        if row.payment_method is not None:
            payment = Payment(
                row.payment_method, Money(row.payment_amount or 0, currency), row.payment_reference
            )
        groups = []
        for g in parts.get("groups", []):
            address = self._open(g.address)
            groups.append(
                Group(
                    position=g.position,
                    type=g.type,
                    status=g.status,
                    location_id=g.location_id,
                    address=Address(**address) if address else None,
                    pickup_by=g.pickup_by,
                    tracking=g.tracking,
                    updated_at=g.updated_at,
                )
            )
        return Order(
            id=row.id,
            key=row.idempotency_key,
            fingerprint=row.fingerprint,
            channel=row.channel,
            status=row.status,
            currency=currency,
            subtotal=Money(row.subtotal, currency),
            total=Money(row.total, currency),
            actor=row.actor,
            created_at=row.created_at,
            updated_at=row.updated_at,
            location_id=row.location_id,
            customer_id=row.customer_id,
            customer_name=self._open(row.customer_name),
            payment=payment,
            external_ref=row.external_ref,
            note=self._open(row.note),
            cart_id=row.cart_id,
            groups=tuple(groups),
            lines=tuple(
                OrderLine(
                    line_no=x.line_no,
                    group=x.group_position,
                    sku=x.sku,
                    qty=x.qty,
                    unit_price=Money(x.unit_amount, currency),
                    base_price=Money(x.base_amount, currency),
                    price_reason=x.price_reason,
                    promotion_id=x.promotion_id,
                    price_source=x.price_source,
                )
                for x in parts.get("lines", [])
            ),
            allocations=tuple(
                Allocated(x.line_no, x.location_id, x.qty, x.reservation_id, x.status)
                for x in parts.get("allocations", [])
            ),
            history=tuple(
                HistoryEntry(x.group_position, x.from_status, x.to_status, x.actor, x.at)
                for x in parts.get("history", [])
            ),
        )

    # -- privacy -----------------------------------------------------------------------------

    def customer_rows(
        self, profile_ids: Collection[str], anonymous_hashes: Collection[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Every row about the customer, as stored (sealed values stay sealed)."""
        ids = sorted(profile_ids)
        orders = [
            dict(r._mapping)
            for r in self.conn.execute(
                sa.select(commerce_orders)
                .where(commerce_orders.c.customer_id.in_(ids))
                .order_by(commerce_orders.c.created_at, commerce_orders.c.id)
            )
        ]
        order_ids = [o["id"] for o in orders]
        tables: dict[str, list[dict[str, Any]]] = {"commerce_orders": orders}
        for table in (
            commerce_order_groups,
            commerce_order_lines,
            commerce_order_allocations,
            commerce_order_history,
        ):
            tables[table.name] = [
                dict(r._mapping)
                for r in self.conn.execute(
                    sa.select(table)
                    .where(table.c.order_id.in_(order_ids))
                    .order_by(*table.primary_key.columns)
                )
            ]
        owned = sa.or_(
            commerce_carts.c.customer_id.in_(ids),
            commerce_carts.c.anonymous_hash.in_(sorted(anonymous_hashes)),
        )
        carts = [
            dict(r._mapping)
            for r in self.conn.execute(
                sa.select(commerce_carts).where(owned).order_by(commerce_carts.c.created_at)
            )
        ]
        tables["commerce_carts"] = carts
        tables["commerce_cart_lines"] = [
            dict(r._mapping)
            for r in self.conn.execute(
                sa.select(commerce_cart_lines)
                .where(commerce_cart_lines.c.cart_id.in_([c["id"] for c in carts]))
                .order_by(commerce_cart_lines.c.cart_id, commerce_cart_lines.c.sku)
            )
        ]
        return tables

    def erase_customer(
        self, profile_ids: Collection[str], anonymous_hashes: Collection[str], request_id: str
    ) -> dict[str, int]:
        """Carts deleted; orders kept for the accounts, de-identified: no customer, name, note
        or address, and `erasure_ref` set to the request's id."""
        ids = sorted(profile_ids)
        order_ids = [
            row.id
            for row in self.conn.execute(
                sa.select(commerce_orders.c.id).where(commerce_orders.c.customer_id.in_(ids))
            )
        ]
        if order_ids:
            self.conn.execute(
                commerce_orders.update()
                .where(commerce_orders.c.id.in_(order_ids))
                .values(customer_id=None, customer_name=None, note=None, erasure_ref=request_id)
            )
            self.conn.execute(
                commerce_order_groups.update()
                .where(commerce_order_groups.c.order_id.in_(order_ids))
                .values(address=sa.null())
            )
        carts = [
            row.id
            for row in self.conn.execute(
                sa.select(commerce_carts.c.id).where(
                    sa.or_(
                        commerce_carts.c.customer_id.in_(ids),
                        commerce_carts.c.anonymous_hash.in_(sorted(anonymous_hashes)),
                    )
                )
            )
        ]
        return {"commerce_orders": len(order_ids), "commerce_carts": self.delete_carts(carts)}
