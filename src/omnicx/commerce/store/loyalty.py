"""SQL storage of loyalty accounts and their ledger.

The balances on `commerce_loyalty_accounts` change only by conditional UPDATEs written in the
same transaction as their entry; the entry's key is unique within its account, so a replayed
earn or burn finds the entry it made instead of counting twice. An entry's reason is free
text and sealed. Accounts and entries are the customer's data: exported with them, deleted by
an erasure.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.commerce.loyalty import TIER_KINDS, Account, Entry
from omnicx.commerce.model import Money
from omnicx.crypto import FieldCipher
from omnicx.db import UtcDateTime, metadata

ID = 36

commerce_loyalty_accounts = sa.Table(
    "commerce_loyalty_accounts",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, unique=True),
    sa.Column("points", sa.BigInteger(), nullable=False),
    sa.Column("credit", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("tier", sa.String(40), nullable=False),
    sa.Column("merged_into", sa.String(ID), nullable=True, index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("credit >= 0", name="credit"),
)
"""One per customer; `points` may be below zero only after a reversal of spent points."""

commerce_loyalty_entries = sa.Table(
    "commerce_loyalty_entries",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("account_id", sa.String(ID), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("points", sa.BigInteger(), nullable=False),
    sa.Column("credit", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("location_id", sa.String(64), nullable=True),
    sa.Column("order_id", sa.String(64), nullable=True, index=True),
    sa.Column("return_id", sa.String(ID), nullable=True),
    sa.Column("exchange_id", sa.String(ID), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "key"),
    sa.Index("ix_commerce_loyalty_entries_account_id_created_at", "account_id", "created_at"),
)
"""The ledger: append-only while the customer exists; an erasure deletes it with them."""


class SqlLoyaltyRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher
        self.postgres = conn.dialect.name == "postgresql"

    def _insert_new(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> bool:
        dialect = postgresql if self.postgres else sqlite
        statement = (
            dialect.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c.id)
        )
        # RETURNING, not rowcount: psycopg reports -1 for a skipped ON CONFLICT insert.
        return self.conn.execute(statement).first() is not None

    # -- accounts ------------------------------------------------------------------------------

    @staticmethod
    def _account(row: Any) -> Account:
        values = dict(row._mapping)
        values["credit"] = Money(values["credit"], values.pop("currency"))
        return Account(**values)

    def account_of(self, customer_id: str) -> Account | None:
        t = commerce_loyalty_accounts
        row = self.conn.execute(sa.select(t).where(t.c.customer_id == customer_id)).first()
        return None if row is None else self._account(row)

    def account(self, account_id: str) -> Account | None:
        t = commerce_loyalty_accounts
        row = self.conn.execute(sa.select(t).where(t.c.id == account_id)).first()
        return None if row is None else self._account(row)

    def add_account(self, account: Account) -> bool:
        values = dict(account.__dict__)
        values["currency"] = account.credit.currency
        values["credit"] = account.credit.amount
        return self._insert_new(commerce_loyalty_accounts, values, ["customer_id"])

    def members(self, account_id: str) -> list[str]:
        t = commerce_loyalty_accounts
        merged = self.conn.execute(sa.select(t.c.id).where(t.c.merged_into == account_id))
        return [account_id, *sorted(row.id for row in merged)]

    def apply(
        self, account_id: str, points: int, credit: int, now: datetime, *, floor: bool
    ) -> bool:
        t = commerce_loyalty_accounts
        conditions = [t.c.id == account_id]
        if floor and points < 0:
            conditions.append(t.c.points + points >= 0)
        if credit < 0:
            conditions.append(t.c.credit + credit >= 0)
        result = self.conn.execute(
            t.update()
            .where(*conditions)
            .values(points=t.c.points + points, credit=t.c.credit + credit, updated_at=now)
        )
        return bool(result.rowcount == 1)

    def set_tier(self, account_id: str, tier: str, now: datetime) -> None:
        t = commerce_loyalty_accounts
        self.conn.execute(t.update().where(t.c.id == account_id).values(tier=tier, updated_at=now))

    def merge(self, loser_id: str, survivor_id: str, now: datetime) -> None:
        t = commerce_loyalty_accounts
        self.conn.execute(
            t.update()
            .where(sa.or_(t.c.id == loser_id, t.c.merged_into == loser_id))
            .values(merged_into=survivor_id, updated_at=now)
        )

    # -- the ledger ----------------------------------------------------------------------------

    def _entry(self, row: Any) -> Entry:
        values = dict(row._mapping)
        values["reason"] = self.cipher.reveal(values["reason"])
        return Entry(**values)

    def entry(self, account_ids: Collection[str], key: str) -> Entry | None:
        t = commerce_loyalty_entries
        row = self.conn.execute(
            sa.select(t)
            .where(t.c.account_id.in_(sorted(account_ids)), t.c.key == key)
            .order_by(t.c.created_at, t.c.id)
            .limit(1)
        ).first()
        return None if row is None else self._entry(row)

    def add_entry(self, entry: Entry) -> bool:
        values = dict(entry.__dict__)
        values["reason"] = self.cipher.seal_if(True, entry.reason)
        return self._insert_new(commerce_loyalty_entries, values, ["account_id", "key"])

    def tier_points(self, account_ids: Collection[str], since: datetime) -> int:
        t = commerce_loyalty_entries
        total = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(t.c.points), 0)).where(
                t.c.account_id.in_(sorted(account_ids)),
                t.c.kind.in_(TIER_KINDS),
                t.c.created_at >= since,
            )
        ).scalar_one()
        return int(total)

    def order_points(self, account_ids: Collection[str], order_id: str) -> dict[str, int]:
        t = commerce_loyalty_entries
        rows = self.conn.execute(
            sa.select(t.c.kind, sa.func.sum(t.c.points))
            .where(t.c.account_id.in_(sorted(account_ids)), t.c.order_id == order_id)
            .group_by(t.c.kind)
        )
        return {kind: int(total) for kind, total in rows}

    def entries(
        self, account_ids: Collection[str], *, limit: int = 50, before: str | None = None
    ) -> list[Entry]:
        t = commerce_loyalty_entries
        query = (
            sa.select(t)
            .where(t.c.account_id.in_(sorted(account_ids)))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            mark = self.conn.execute(
                sa.select(t.c.created_at, t.c.id).where(t.c.id == before)
            ).first()
            if mark is not None:
                query = query.where(
                    sa.or_(
                        t.c.created_at < mark.created_at,
                        sa.and_(t.c.created_at == mark.created_at, t.c.id < mark.id),
                    )
                )
        return [self._entry(row) for row in self.conn.execute(query)]

    def ledger_sum(self, account_id: str) -> tuple[int, int]:
        """Points and credit as the account's own entries add up (a check)."""
        t = commerce_loyalty_entries
        row = self.conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(t.c.points), 0),
                sa.func.coalesce(sa.func.sum(t.c.credit), 0),
            ).where(t.c.account_id == account_id)
        ).one()
        return int(row[0]), int(row[1])

    # -- privacy -------------------------------------------------------------------------------

    def _account_ids(self, customer_ids: Collection[str]) -> list[str]:
        t = commerce_loyalty_accounts
        if not customer_ids:
            return []
        rows = self.conn.execute(sa.select(t.c.id).where(t.c.customer_id.in_(sorted(customer_ids))))
        return sorted(row.id for row in rows)

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = self._account_ids(customer_ids)
        accounts, entries = commerce_loyalty_accounts, commerce_loyalty_entries
        found: dict[str, list[dict[str, Any]]] = {str(accounts.name): [], str(entries.name): []}
        if not ids:
            return found
        found[str(accounts.name)] = [
            dict(row._mapping)
            for row in self.conn.execute(sa.select(accounts).where(accounts.c.id.in_(ids)))
        ]
        found[str(entries.name)] = [
            {**row._mapping, "reason": self.cipher.reveal(row.reason)}
            for row in self.conn.execute(
                sa.select(entries)
                .where(entries.c.account_id.in_(ids))
                .order_by(entries.c.created_at, entries.c.id)
            )
        ]
        return found

    def erase(self, customer_ids: Collection[str]) -> dict[str, int]:
        ids = self._account_ids(customer_ids)
        accounts, entries = commerce_loyalty_accounts, commerce_loyalty_entries
        counts = {str(accounts.name): 0, str(entries.name): 0}
        if not ids:
            return counts
        counts[str(entries.name)] = int(
            self.conn.execute(entries.delete().where(entries.c.account_id.in_(ids))).rowcount
        )
        counts[str(accounts.name)] = int(
            self.conn.execute(accounts.delete().where(accounts.c.id.in_(ids))).rowcount
        )
        return counts
