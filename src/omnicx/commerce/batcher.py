"""Group commit for stock reservations.

Every reservation of one item at one location changes the same balance row, and that row
stays locked from the conditional UPDATE to the commit, so one durable commit per hold is the
ceiling of a hot item (decision 0024). Callers hand their holds over from their own threads;
one thread reserves whatever has gathered meanwhile in a single transaction and commits once
(decision 0027). Each caller still gets its own reservation, or the error that refused it,
and returns only once its hold is committed. A hold that arrives alone is reserved at once:
batches form only while the previous one is being written.

Within a batch the balances are taken in (location, SKU) order, the order every other path
takes them in. The holds on one balance are first held together: their leases in one insert,
their units in one conditional UPDATE by the sum (`inventory.reserve_together`). When they
do not all fit, each is reserved on its own, in the order it arrived and in a savepoint of
its own: a refused hold (not enough stock, a key reused for other stock, an inactive
location) leaves nothing behind, and the others commit. A hold that meets a database error
(a deadlock with another server's batch on one key) is tried again on its own once the batch
has committed.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import exc

from omnicx.commerce.inventory import (
    Context,
    InventoryRepository,
    Reservation,
    new_lease,
    reserve,
    reserve_together,
)
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.kernel import DomainError
from omnicx.kernel.group_commit import GroupCommit

log = logging.getLogger("omnicx.commerce")

MAX_BATCH = 64
"""The most holds one transaction takes; the rest wait for the next."""


@dataclass(frozen=True)
class Hold:
    """One reservation asked for: what `inventory.reserve` takes, and who asks."""

    location_id: str
    sku: str
    qty: int
    lease_seconds: int | None = None
    key: str | None = None
    ref: str | None = None
    remote: bool = False
    actor: str = "system"


Outcome = Reservation | Exception
ReserveMany = Callable[[Sequence[Hold]], list[Outcome]]
RepositoryOf = Callable[[UnitOfWork], InventoryRepository]
ContextOf = Callable[[UnitOfWork, str], Context]


class ReservationBatcher(GroupCommit[Hold, Reservation]):
    def __init__(self, reserve_many: ReserveMany, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(reserve_many, name="omnicx-reservations", log=log, max_batch=max_batch)

    def reserve(self, hold: Hold) -> Reservation:
        """Reserve `hold` (with whatever else is waiting) and return its committed lease, or
        raise the error that refused it."""
        return self.submit(hold)


def reserve_many(
    uows: UnitOfWorkFactory,
    repository_of: RepositoryOf,
    context_of: ContextOf,
    holds: Sequence[Hold],
) -> list[Outcome]:
    """Reserve `holds` in one transaction, each granted or refused on its own; the outcome of
    each, in the order given, once committed."""
    if len(holds) == 1:
        return [_alone(uows, repository_of, context_of, holds[0])]
    outcomes: list[Outcome | None] = [None] * len(holds)
    again: list[int] = []
    balances: dict[tuple[str, str], list[int]] = {}
    for index, hold in enumerate(holds):
        balances.setdefault((hold.location_id, hold.sku), []).append(index)
    keys: set[str] = set()
    with uows() as uow:
        repo = repository_of(uow)
        for pair in sorted(balances):
            alone: list[int] = []
            together: dict[bool, list[tuple[int, Reservation]]] = {}
            for index in balances[pair]:
                hold = holds[index]
                try:
                    lease = new_lease(
                        context_of(uow, hold.actor), hold.location_id, hold.sku, hold.qty,
                        lease_seconds=hold.lease_seconds, key=hold.key, ref=hold.ref,
                    )  # fmt: skip
                except DomainError as refused:
                    outcomes[index] = refused
                    continue
                if lease.key in keys:
                    alone.append(index)  # the same key twice: the second finds the first
                else:
                    keys.add(lease.key)
                    together.setdefault(hold.remote, []).append((index, lease))
            for remote, group in sorted(together.items()):
                if len(group) == 1:
                    alone.append(group[0][0])
                    continue
                leases = [lease for _, lease in group]
                try:
                    with uow.savepoint():
                        held = reserve_together(
                            repo, context_of(uow, "system"), leases, remote=remote
                        )
                except exc.DBAPIError:
                    again.extend(index for index, _ in group)
                    continue
                if held:
                    for index, lease in group:
                        outcomes[index] = lease
                else:
                    alone.extend(index for index, _ in group)
            for index in sorted(alone):
                hold = holds[index]
                try:
                    with uow.savepoint():
                        outcomes[index] = _reserve(repo, context_of(uow, hold.actor), hold)
                except exc.DBAPIError:
                    again.append(index)
                except Exception as refused:  # handed to its caller, who raises it
                    outcomes[index] = refused
        uow.commit()
    for index in again:
        outcomes[index] = _alone(uows, repository_of, context_of, holds[index])
    done = [outcome for outcome in outcomes if outcome is not None]
    if len(done) != len(holds):
        raise RuntimeError("a hold of the batch has no outcome")
    return done


def _alone(
    uows: UnitOfWorkFactory, repository_of: RepositoryOf, context_of: ContextOf, hold: Hold
) -> Outcome:
    try:
        with uows() as uow:
            lease = _reserve(repository_of(uow), context_of(uow, hold.actor), hold)
            uow.commit()
    except Exception as error:  # handed to its caller, who raises it
        return error
    return lease


def _reserve(repo: InventoryRepository, ctx: Context, hold: Hold) -> Reservation:
    return reserve(
        repo, ctx, hold.location_id, hold.sku, hold.qty, lease_seconds=hold.lease_seconds,
        key=hold.key, ref=hold.ref, remote=hold.remote,
    )  # fmt: skip
