"""SQL storage of inventory: locations, balances, the movement ledger, reservations and
transfers.

`commerce_stock_movements` is append-only: triggers refuse UPDATE, DELETE (and TRUNCATE on
PostgreSQL), as for the audit log. Balances are changed only by conditional UPDATEs whose row
count says whether they happened; CHECK constraints keep every bucket at zero or more and
reserved within sellable, whatever a caller does. Nothing here is personal data: ids, SKUs,
quantities, business addresses and staff actors.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.commerce.inventory import BUCKETS, Movement, Reservation, StockLevel, Transfer
from omnicx.commerce.locations import Address, Location, OpeningHours, parse_hours
from omnicx.commerce.locations import hours_json as _hours_json
from omnicx.db import JsonValue, UtcDateTime, metadata

ID = 36
LOCATION = 64
SKU = 64
REF = 100
ACTOR = 200

commerce_locations = sa.Table(
    "commerce_locations",
    metadata,
    sa.Column("id", sa.String(LOCATION), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("capabilities", JsonValue, nullable=False),
    sa.Column("address", JsonValue, nullable=False),
    sa.Column("latitude", sa.Float(), nullable=True),
    sa.Column("longitude", sa.Float(), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("hours", JsonValue, nullable=False),
    sa.Column("exceptions", JsonValue, nullable=False),
    sa.Column("safety_stock", sa.Integer(), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

commerce_stock_levels = sa.Table(
    "commerce_stock_levels",
    metadata,
    sa.Column("location_id", sa.String(LOCATION), primary_key=True),
    sa.Column("sku", sa.String(SKU), primary_key=True, index=True),
    sa.Column("sellable", sa.BigInteger(), nullable=False),
    sa.Column("display", sa.BigInteger(), nullable=False),
    sa.Column("damaged", sa.BigInteger(), nullable=False),
    sa.Column("in_transit", sa.BigInteger(), nullable=False),
    sa.Column("reserved", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        "sellable >= 0 AND display >= 0 AND damaged >= 0 AND in_transit >= 0 "
        "AND reserved >= 0 AND reserved <= sellable",
        name="buckets",
    ),
)
"""One row per (location, SKU): the buckets and the reserved part of sellable."""

commerce_stock_movements = sa.Table(
    "commerce_stock_movements",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("location_id", sa.String(LOCATION), nullable=False),
    sa.Column("sku", sa.String(SKU), nullable=False),
    sa.Column("from_bucket", sa.String(12), nullable=True),
    sa.Column("to_bucket", sa.String(12), nullable=True),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("ref", sa.String(REF), nullable=True, index=True),
    sa.Column("reservation_id", sa.String(ID), nullable=True, unique=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("actor", sa.String(ACTOR), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_commerce_stock_movements_sku_location_id", "sku", "location_id"),
    sa.Index("ix_commerce_stock_movements_location_id", "location_id"),
    sa.CheckConstraint("qty > 0", name="qty"),
)
"""The ledger. A reservation is committed by exactly one movement (unique reservation_id)."""

commerce_reservations = sa.Table(
    "commerce_reservations",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("location_id", sa.String(LOCATION), nullable=False),
    sa.Column("sku", sa.String(SKU), nullable=False),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("ref", sa.String(REF), nullable=True, index=True),
    sa.Column("actor", sa.String(ACTOR), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Index("ix_commerce_reservations_status_expires_at", "status", "expires_at"),
    sa.Index("ix_commerce_reservations_location_id_sku_status", "location_id", "sku", "status"),
)

commerce_transfers = sa.Table(
    "commerce_transfers",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("from_location", sa.String(LOCATION), nullable=False, index=True),
    sa.Column("to_location", sa.String(LOCATION), nullable=False, index=True),
    sa.Column("sku", sa.String(SKU), nullable=False),
    sa.Column("qty", sa.Integer(), nullable=False),
    sa.Column("received", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("ref", sa.String(REF), nullable=True),
    sa.Column("actor", sa.String(ACTOR), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


# The statements every reservation runs, built once: SQLAlchemy then reuses their cache keys.
_LOCATION = sa.select(commerce_locations).where(
    commerce_locations.c.id == sa.bindparam("location_id")
)
_HOLDING_TERMS = sa.select(commerce_locations.c.active, commerce_locations.c.safety_stock).where(
    commerce_locations.c.id == sa.bindparam("location_id")
)
_ADD_RESERVATION = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(commerce_reservations)
    .from_select(
        [c.name for c in commerce_reservations.c],
        sa.select(*[sa.bindparam(c.name, type_=c.type) for c in commerce_reservations.c]).where(
            commerce_locations.c.id == sa.bindparam("location_id"),
            commerce_locations.c.active.is_(True),
        ),
    )
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(commerce_reservations.c.id)
    for dialect in (postgresql, sqlite)
}
"""Add a lease when its location is active and its key is free, in one statement."""
_ADD_RESERVATIONS = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(commerce_reservations)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(commerce_reservations.c.id)
    for dialect in (postgresql, sqlite)
}
"""Add leases whose keys are free (executed with many rows: one multi-row INSERT)."""
_DROP_RESERVATIONS = commerce_reservations.delete().where(
    commerce_reservations.c.id.in_(sa.bindparam("ids", expanding=True))
)
_SAFETY_STOCK = (
    sa.select(commerce_locations.c.safety_stock)
    .where(commerce_locations.c.id == sa.bindparam("where_location"))
    .scalar_subquery()
)


def _hold(holdback: sa.ColumnElement[int]) -> sa.Update:
    t = commerce_stock_levels
    return (
        t.update()
        .where(
            t.c.location_id == sa.bindparam("where_location"),
            t.c.sku == sa.bindparam("where_sku"),
            t.c.sellable - (t.c.reserved + sa.bindparam("qty", type_=sa.BigInteger())) >= holdback,
        )
        .values(
            reserved=t.c.reserved + sa.bindparam("qty", type_=sa.BigInteger()),
            updated_at=sa.bindparam("now", type_=UtcDateTime()),
        )
    )


_HOLD = _hold(sa.literal(0, sa.BigInteger()))
_HOLD_REMOTE = _hold(_SAFETY_STOCK)
"""Hold `qty` more of sellable; remotely, when the location's safety stock stays free beside it."""
# … and those that plan where an order's lines are held.
_ACTIVE_LOCATIONS = (
    sa.select(commerce_locations)
    .where(commerce_locations.c.active == sa.bindparam("active"))
    .order_by(commerce_locations.c.priority, commerce_locations.c.id)
)
_LEVELS_OF = (
    sa.select(commerce_stock_levels)
    .where(commerce_stock_levels.c.sku.in_(sa.bindparam("skus", expanding=True)))
    .order_by(commerce_stock_levels.c.location_id, commerce_stock_levels.c.sku)
)
_EXPIRED_HOLDS_OF = (
    sa.select(
        commerce_reservations.c.location_id,
        commerce_reservations.c.sku,
        sa.func.sum(commerce_reservations.c.qty),
    )
    .where(
        commerce_reservations.c.status == "active",
        commerce_reservations.c.expires_at <= sa.bindparam("now"),
        commerce_reservations.c.sku.in_(sa.bindparam("skus", expanding=True)),
    )
    .group_by(commerce_reservations.c.location_id, commerce_reservations.c.sku)
)


def _location(row: Any) -> Location:
    address = dict(row.address)
    return Location(
        id=row.id,
        name=row.name,
        kind=row.kind,
        capabilities=frozenset(row.capabilities),
        address=Address(**address),
        hours=_hours(row.timezone, row.hours, row.exceptions),
        safety_stock=row.safety_stock,
        priority=row.priority,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        latitude=row.latitude,
        longitude=row.longitude,
    )


def _hours(timezone: str, week: dict[str, Any], exceptions: dict[str, Any]) -> OpeningHours:
    return parse_hours(timezone, week, exceptions)


def _location_values(location: Location) -> dict[str, Any]:
    hours = _hours_json(location.hours)
    return {
        "id": location.id,
        "name": location.name,
        "kind": location.kind,
        "capabilities": sorted(location.capabilities),
        "address": dict(location.address.__dict__),
        "latitude": location.latitude,
        "longitude": location.longitude,
        "timezone": hours["timezone"],
        "hours": hours["week"],
        "exceptions": hours["exceptions"],
        "safety_stock": location.safety_stock,
        "priority": location.priority,
        "active": location.active,
        "created_at": location.created_at,
        "updated_at": location.updated_at,
    }


def _chunks(values: Collection[str] | None, size: int = 500) -> Iterator[list[str] | None]:
    """None (no filter) once, or the values in slices an IN list can take."""
    if values is None:
        yield None
        return
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _level(row: Any) -> StockLevel:
    return StockLevel(**row._mapping)


def _movement(row: Any) -> Movement:
    return Movement(**row._mapping)


def _reservation(row: Any) -> Reservation:
    return Reservation(**row._mapping)


def _transfer(row: Any) -> Transfer:
    return Transfer(**row._mapping)


class SqlInventoryRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    def _insert_new(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> bool:
        """INSERT … ON CONFLICT DO NOTHING on `keys`; True when the row went in."""
        dialect = postgresql if self.postgres else sqlite
        statement = (
            dialect.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT insert.
        return self.conn.execute(statement).first() is not None

    # -- locations -----------------------------------------------------------------------------

    def add_location(self, location: Location) -> None:
        self.conn.execute(commerce_locations.insert().values(**_location_values(location)))

    def save_location(self, location: Location) -> None:
        t = commerce_locations
        values = _location_values(location)
        for fixed in ("id", "created_at"):
            values.pop(fixed)
        self.conn.execute(t.update().where(t.c.id == location.id).values(**values))

    def location(self, location_id: str) -> Location | None:
        row = self.conn.execute(_LOCATION, {"location_id": location_id}).first()
        return None if row is None else _location(row)

    def holding_terms(self, location_id: str) -> tuple[bool, int] | None:
        row = self.conn.execute(_HOLDING_TERMS, {"location_id": location_id}).first()
        return None if row is None else (bool(row.active), int(row.safety_stock))

    def locations(
        self, *, kind: str | None = None, capability: str | None = None, active: bool | None = None
    ) -> list[Location]:
        t = commerce_locations
        if kind is None and active is not None:
            rows = self.conn.execute(_ACTIVE_LOCATIONS, {"active": active})
        else:
            query = sa.select(t).order_by(t.c.priority, t.c.id)
            if kind is not None:
                query = query.where(t.c.kind == kind)
            if active is not None:
                query = query.where(t.c.active == active)
            rows = self.conn.execute(query)
        found = [_location(row) for row in rows]
        if capability is not None:
            found = [location for location in found if location.can(capability)]
        return found

    def location_in_use(self, location_id: str) -> bool:
        checks = (
            sa.select(commerce_stock_levels.c.sku).where(
                commerce_stock_levels.c.location_id == location_id
            ),
            sa.select(commerce_stock_movements.c.id).where(
                commerce_stock_movements.c.location_id == location_id
            ),
            sa.select(commerce_reservations.c.id).where(
                commerce_reservations.c.location_id == location_id
            ),
            sa.select(commerce_transfers.c.id).where(
                sa.or_(
                    commerce_transfers.c.from_location == location_id,
                    commerce_transfers.c.to_location == location_id,
                )
            ),
        )
        return any(self.conn.execute(check.limit(1)).first() is not None for check in checks)

    def delete_location(self, location_id: str) -> None:
        t = commerce_locations
        self.conn.execute(t.delete().where(t.c.id == location_id))

    # -- balances ------------------------------------------------------------------------------

    def lock_level(self, location_id: str, sku: str) -> None:
        if self.postgres:
            t = commerce_stock_levels
            self.conn.execute(
                sa.select(t.c.sku)
                .where(t.c.location_id == location_id, t.c.sku == sku)
                .with_for_update()
            )

    def ensure_level(self, location_id: str, sku: str, now: datetime) -> None:
        self._insert_new(
            commerce_stock_levels,
            {
                "location_id": location_id,
                "sku": sku,
                "updated_at": now,
                "reserved": 0,
                **dict.fromkeys(BUCKETS, 0),
            },
            ["location_id", "sku"],
        )

    def level(self, location_id: str, sku: str) -> StockLevel | None:
        t = commerce_stock_levels
        row = self.conn.execute(
            sa.select(t).where(t.c.location_id == location_id, t.c.sku == sku)
        ).first()
        return None if row is None else _level(row)

    def levels(
        self, *, location_id: str | None = None, skus: Collection[str] | None = None
    ) -> list[StockLevel]:
        t = commerce_stock_levels
        if location_id is None and skus is not None:
            found = [
                _level(row)
                for chunk in _chunks(skus)
                for row in self.conn.execute(_LEVELS_OF, {"skus": chunk})
            ]
            return sorted(found, key=lambda level: (level.location_id, level.sku))
        query = sa.select(t).order_by(t.c.location_id, t.c.sku)
        if location_id is not None:
            query = query.where(t.c.location_id == location_id)
        found = [
            _level(row)
            for chunk in _chunks(skus)
            for row in self.conn.execute(
                query if chunk is None else query.where(t.c.sku.in_(chunk))
            )
        ]
        return sorted(found, key=lambda level: (level.location_id, level.sku))

    def shift(
        self,
        location_id: str,
        sku: str,
        deltas: Mapping[str, int],
        now: datetime,
        *,
        reserve: int = 0,
        remote: bool = False,
    ) -> bool:
        if reserve > 0 and not any(deltas.values()):
            params = {"where_location": location_id, "where_sku": sku, "qty": reserve, "now": now}
            held = self.conn.execute(_HOLD_REMOTE if remote else _HOLD, params)
            return bool(held.rowcount == 1)
        t = commerce_stock_levels
        values: dict[str, Any] = {"updated_at": now}
        conditions = [t.c.location_id == location_id, t.c.sku == sku]
        for bucket, delta in deltas.items():
            if delta:
                values[bucket] = t.c[bucket] + delta
            if delta < 0:
                conditions.append(t.c[bucket] + delta >= 0)
        if reserve:
            values["reserved"] = t.c.reserved + reserve
            if reserve < 0:
                conditions.append(t.c.reserved + reserve >= 0)
        sellable = deltas.get("sellable", 0)
        if sellable < 0 or reserve > 0 or remote:
            holdback = (
                sa.select(commerce_locations.c.safety_stock)
                .where(commerce_locations.c.id == location_id)
                .scalar_subquery()
                if remote
                else 0
            )
            conditions.append(t.c.sellable + sellable - (t.c.reserved + reserve) >= holdback)
        result = self.conn.execute(t.update().where(*conditions).values(**values))
        return bool(result.rowcount == 1)

    def set_level(self, level: StockLevel, now: datetime) -> None:
        values = {**level.__dict__, "updated_at": now}
        t = commerce_stock_levels
        if not self._insert_new(t, values, ["location_id", "sku"]):
            self.conn.execute(
                t.update()
                .where(t.c.location_id == level.location_id, t.c.sku == level.sku)
                .values(**{k: v for k, v in values.items() if k not in ("location_id", "sku")})
            )

    # -- the ledger ----------------------------------------------------------------------------

    def add_movement(self, movement: Movement) -> Movement:
        values = dict(movement.__dict__)
        values.pop("id")
        result = self.conn.execute(commerce_stock_movements.insert().values(**values))
        (movement_id,) = result.inserted_primary_key or (0,)
        return Movement(**{**movement.__dict__, "id": int(movement_id)})

    def movements(
        self,
        *,
        location_id: str | None = None,
        sku: str | None = None,
        ref: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Movement]:
        t = commerce_stock_movements
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        for column, value in ((t.c.location_id, location_id), (t.c.sku, sku), (t.c.ref, ref)):
            if value is not None:
                query = query.where(column == value)
        if before is not None:
            query = query.where(t.c.id < before)
        return [_movement(row) for row in self.conn.execute(query)]

    def movement_for(self, reservation_id: str) -> Movement | None:
        t = commerce_stock_movements
        row = self.conn.execute(sa.select(t).where(t.c.reservation_id == reservation_id)).first()
        return None if row is None else _movement(row)

    def ledger_nets(self) -> list[tuple[str, str, str, int]]:
        t = commerce_stock_movements
        nets: dict[tuple[str, str, str], int] = {}
        for column, sign in ((t.c.to_bucket, 1), (t.c.from_bucket, -1)):
            rows = self.conn.execute(
                sa.select(t.c.location_id, t.c.sku, column, sa.func.sum(t.c.qty))
                .where(column.is_not(None))
                .group_by(t.c.location_id, t.c.sku, column)
            )
            for location_id, sku, bucket, total in rows:
                key = (location_id, sku, bucket)
                nets[key] = nets.get(key, 0) + sign * int(total)
        return [(*key, net) for key, net in sorted(nets.items())]

    # -- reservations --------------------------------------------------------------------------

    def add_reservation(self, reservation: Reservation) -> bool:
        statement = _ADD_RESERVATION[self.conn.dialect.name]
        # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT insert.
        return self.conn.execute(statement, dict(reservation.__dict__)).first() is not None

    def drop_reservation(self, reservation_id: str) -> None:
        t = commerce_reservations
        self.conn.execute(t.delete().where(t.c.id == reservation_id))

    def add_reservations(self, reservations: Sequence[Reservation]) -> list[str]:
        if not reservations:
            return []
        statement = _ADD_RESERVATIONS[self.conn.dialect.name]
        rows = [dict(reservation.__dict__) for reservation in reservations]
        return [str(row[0]) for row in self.conn.execute(statement, rows)]

    def drop_reservations(self, reservation_ids: Collection[str]) -> None:
        for chunk in _chunks(reservation_ids):
            self.conn.execute(_DROP_RESERVATIONS, {"ids": chunk})

    def reservation(self, reservation_id: str) -> Reservation | None:
        t = commerce_reservations
        row = self.conn.execute(sa.select(t).where(t.c.id == reservation_id)).first()
        return None if row is None else _reservation(row)

    def reservation_by_key(self, key: str) -> Reservation | None:
        t = commerce_reservations
        row = self.conn.execute(sa.select(t).where(t.c.key == key)).first()
        return None if row is None else _reservation(row)

    def end_reservation(
        self, reservation_id: str, status: str, now: datetime, *, live_at: datetime | None = None
    ) -> bool:
        t = commerce_reservations
        query = t.update().where(t.c.id == reservation_id, t.c.status == "active")
        if live_at is not None:
            query = query.where(t.c.expires_at > live_at)
        return bool(self.conn.execute(query.values(status=status, ended_at=now)).rowcount == 1)

    def extend_reservation(self, reservation_id: str, expires_at: datetime, now: datetime) -> bool:
        t = commerce_reservations
        result = self.conn.execute(
            t.update()
            .where(t.c.id == reservation_id, t.c.status == "active", t.c.expires_at > now)
            .values(expires_at=expires_at)
        )
        return bool(result.rowcount == 1)

    def due_reservations(
        self,
        now: datetime,
        *,
        location_id: str | None = None,
        sku: str | None = None,
        limit: int = 500,
    ) -> list[Reservation]:
        t = commerce_reservations
        query = (
            sa.select(t)
            .where(t.c.status == "active", t.c.expires_at <= now)
            .order_by(t.c.location_id, t.c.sku, t.c.id)
            .limit(limit)
        )
        if location_id is not None:
            query = query.where(t.c.location_id == location_id)
        if sku is not None:
            query = query.where(t.c.sku == sku)
        return [_reservation(row) for row in self.conn.execute(query)]

    def expired_holds(
        self, now: datetime, *, skus: Collection[str], location_id: str | None = None
    ) -> dict[tuple[str, str], int]:
        t = commerce_reservations
        if location_id is None:
            return {
                (row[0], row[1]): int(row[2])
                for chunk in _chunks(skus)
                for row in self.conn.execute(_EXPIRED_HOLDS_OF, {"now": now, "skus": chunk})
            }
        query = (
            sa.select(t.c.location_id, t.c.sku, sa.func.sum(t.c.qty))
            .where(t.c.status == "active", t.c.expires_at <= now, t.c.location_id == location_id)
            .group_by(t.c.location_id, t.c.sku)
        )
        return {
            (row[0], row[1]): int(row[2])
            for chunk in _chunks(skus)
            for row in self.conn.execute(
                query if chunk is None else query.where(t.c.sku.in_(chunk))
            )
        }

    def active_totals(self) -> dict[tuple[str, str], int]:
        t = commerce_reservations
        rows = self.conn.execute(
            sa.select(t.c.location_id, t.c.sku, sa.func.sum(t.c.qty))
            .where(t.c.status == "active")
            .group_by(t.c.location_id, t.c.sku)
        )
        return {(location_id, sku): int(total) for location_id, sku, total in rows}

    # -- transfers -----------------------------------------------------------------------------

    def add_transfer(self, transfer: Transfer) -> None:
        self.conn.execute(commerce_transfers.insert().values(**transfer.__dict__))

    def transfer(self, transfer_id: str) -> Transfer | None:
        t = commerce_transfers
        row = self.conn.execute(sa.select(t).where(t.c.id == transfer_id)).first()
        return None if row is None else _transfer(row)

    def transfers(
        self, *, location_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Transfer]:
        t = commerce_transfers
        query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        if location_id is not None:
            query = query.where(
                sa.or_(t.c.from_location == location_id, t.c.to_location == location_id)
            )
        if status is not None:
            query = query.where(t.c.status == status)
        return [_transfer(row) for row in self.conn.execute(query)]

    def take_delivery(self, transfer_id: str, qty: int, now: datetime) -> bool:
        t = commerce_transfers
        result = self.conn.execute(
            t.update()
            .where(t.c.id == transfer_id, t.c.received + qty <= t.c.qty)
            .values(
                received=t.c.received + qty,
                status=sa.case((t.c.received + qty >= t.c.qty, "received"), else_="in_transit"),
                updated_at=now,
            )
        )
        return bool(result.rowcount == 1)

    # -- reconciliation ------------------------------------------------------------------------

    def quiesce(self, *, write: bool) -> None:
        # Every path that writes the ledger or a lease writes its balance row in the same
        # transaction: with the balances' table locked against writers, none of them can
        # commit while this reads, so what it reads is one consistent moment (a reservation
        # that added its lease first waits at its balance row, its lease unseen). SHARE lets
        # readers and other reconciliations through; EXCLUSIVE (to fix) also waits for the
        # row locks of `lock_level`, so fixing never deadlocks with a writer.
        if self.postgres:
            mode = "EXCLUSIVE" if write else "SHARE"
            self.conn.exec_driver_sql(f"LOCK TABLE {commerce_stock_levels.name} IN {mode} MODE")
