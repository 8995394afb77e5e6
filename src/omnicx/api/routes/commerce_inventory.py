"""The inventory API: locations, stock, the movement ledger, transfers, reservations and
availability. Reads need commerce.read; locations and stock changes commerce.manage;
reservations commerce.sell.

    /api/commerce/locations[/{id}]                  locations with capabilities and hours
    GET  /api/commerce/stock?sku=&location=         balances per (location, SKU)
    POST /api/commerce/stock/movements              receipt, return, adjustment, damage,
                                                    display, restock, write_off, transfer
    GET  /api/commerce/stock/movements              the ledger, newest first
    /api/commerce/stock/transfers[/{id}[/receive]]  transfers in transit and their receipt
    GET  /api/commerce/stock/reconcile              balances that differ from the ledger
    POST /api/commerce/reservations                 a lease on stock (idempotent on `key`)
    POST …/reservations/{id}/release|commit|extend
    GET  /api/commerce/availability/{sku}           available units per location
"""

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.commerce_inventory import (
    AddressIn,
    AddressPublic,
    AvailabilityItem,
    AvailabilityPublic,
    DifferencePublic,
    HoursIn,
    HoursPublic,
    LocationChange,
    LocationCreate,
    LocationPublic,
    LocationsPublic,
    MovementCreate,
    MovementPublic,
    MovementRecorded,
    MovementsPublic,
    ReconcilePublic,
    ReservationCommit,
    ReservationCreate,
    ReservationExtend,
    ReservationPublic,
    StockLevelPublic,
    StockPublic,
    TransferPublic,
    TransferReceive,
    TransfersPublic,
)
from omnicx.bootstrap import Services
from omnicx.commerce import inventory, locations
from omnicx.commerce.inventory import Movement, Reservation, StockLevel, Transfer
from omnicx.commerce.locations import Address, Location, OpeningHours
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError, Invalid

router = APIRouter(tags=["commerce: inventory"])

CommerceRead = Annotated[Principal, Depends(require("commerce.read"))]
CommerceManage = Annotated[Principal, Depends(require("commerce.manage"))]
CommerceSell = Annotated[Principal, Depends(require("commerce.sell"))]

T = TypeVar("T")

FROM_BUCKET = {"damage": "sellable", "restock": "display", "write_off": "damaged"}
"""Where each kind of movement takes stock from when the body names no bucket."""
TO_BUCKET = {"damage": "damaged", "display": "display", "restock": "sellable"}
BODY_FIELDS = {"from_bucket": "bucket", "to_bucket": "bucket", "to_location": "to_location_id"}


def _write(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow() as uow:
        result = work(uow)
        uow.commit()
    return result


def _read(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow(write=False) as uow:
        return work(uow)


# -- shaping answers -------------------------------------------------------------------------


def location_public(location: Location, services: Services) -> LocationPublic:
    hours = locations.hours_json(location.hours)
    return LocationPublic(
        id=location.id,
        name=location.name,
        kind=location.kind,
        capabilities=sorted(location.capabilities),
        address=AddressPublic(**location.address.__dict__),
        hours=HoursPublic(**hours, always_open=location.hours.always_open),
        open_now=locations.is_open(location.hours, services.clock.now()),
        safety_stock=location.safety_stock,
        priority=location.priority,
        latitude=location.latitude,
        longitude=location.longitude,
        active=location.active,
        created_at=location.created_at,
        updated_at=location.updated_at,
    )


def level_public(level: StockLevel, freed: int = 0) -> StockLevelPublic:
    return StockLevelPublic(**level.__dict__, available=max(0, level.available + freed))


def movement_public(movement: Movement) -> MovementPublic:
    return MovementPublic(**movement.__dict__)


def transfer_public(transfer: Transfer) -> TransferPublic:
    return TransferPublic(**transfer.__dict__)


def reservation_public(reservation: Reservation) -> ReservationPublic:
    return ReservationPublic(**reservation.__dict__)


def _hours(body: HoursIn | None) -> OpeningHours | None:
    if body is None:
        return None
    return locations.parse_hours(body.timezone, body.week, body.exceptions)


def _address(body: AddressIn) -> Address:
    return Address(**body.model_dump())


# -- locations -------------------------------------------------------------------------------


@router.get("/api/commerce/locations", summary="Locations, by priority")
def list_locations(
    services: ServicesDep,
    caller: CommerceRead,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    capability: Annotated[str | None, Query(max_length=40)] = None,
    active: bool | None = None,
) -> LocationsPublic:
    found = _read(
        services,
        lambda uow: services.stock(uow).locations(kind=kind, capability=capability, active=active),
    )
    return LocationsPublic(items=[location_public(place, services) for place in found])


@router.post(
    "/api/commerce/locations",
    status_code=201,
    summary="Create a location",
    responses=error_responses(409),
)
def create_location(
    body: LocationCreate, services: ServicesDep, caller: CommerceManage
) -> LocationPublic:
    hours = _hours(body.hours) or OpeningHours()
    created = _write(
        services,
        lambda uow: locations.create_location(
            services.stock(uow),
            location_id=body.id,
            name=body.name,
            kind=body.kind,
            capabilities=body.capabilities,
            address=_address(body.address),
            hours=hours,
            now=uow.clock.now(),
            safety_stock=body.safety_stock,
            priority=body.priority,
            latitude=body.latitude,
            longitude=body.longitude,
            active=body.active,
        ),
    )
    return location_public(created, services)


@router.get("/api/commerce/locations/{location_id}", summary="One location, open now or not")
def get_location(location_id: str, services: ServicesDep, caller: CommerceRead) -> LocationPublic:
    found = _read(services, lambda uow: locations.get_location(services.stock(uow), location_id))
    return location_public(found, services)


@router.patch("/api/commerce/locations/{location_id}", summary="Change a location")
def change_location(
    location_id: str, body: LocationChange, services: ServicesDep, caller: CommerceManage
) -> LocationPublic:
    moved = {"latitude", "longitude"} & body.model_fields_set
    hours = _hours(body.hours)
    changed = _write(
        services,
        lambda uow: locations.update_location(
            services.stock(uow),
            location_id,
            uow.clock.now(),
            name=body.name,
            kind=body.kind,
            capabilities=body.capabilities,
            address=None if body.address is None else _address(body.address),
            hours=hours,
            safety_stock=body.safety_stock,
            priority=body.priority,
            active=body.active,
            coordinates=(body.latitude, body.longitude) if moved else None,
        ),
    )
    return location_public(changed, services)


@router.delete(
    "/api/commerce/locations/{location_id}",
    status_code=204,
    summary="Delete a location nothing names yet (deactivate one with history)",
    responses=error_responses(409),
)
def delete_location(location_id: str, services: ServicesDep, caller: CommerceManage) -> Response:
    _write(services, lambda uow: locations.delete_location(services.stock(uow), location_id))
    return Response(status_code=204)


# -- stock -----------------------------------------------------------------------------------


@router.get("/api/commerce/stock", summary="Balances of a SKU, of a location, or of both")
def get_stock(
    services: ServicesDep,
    caller: CommerceRead,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
) -> StockPublic:
    if sku is None and location is None:
        raise Invalid("missing_filter", "give sku, location or both", "sku")

    def work(uow: UnitOfWork) -> StockPublic:
        repo = services.stock(uow)
        levels = repo.levels(location_id=location, skus=None if sku is None else [sku])
        freed = repo.expired_holds(
            uow.clock.now(), skus=sorted({level.sku for level in levels}), location_id=location
        )
        return StockPublic(
            items=[level_public(lv, freed.get((lv.location_id, lv.sku), 0)) for lv in levels]
        )

    return _read(services, work)


def _record(
    services: Services, uow: UnitOfWork, body: MovementCreate, actor: str
) -> MovementRecorded:
    try:
        return _movement(services, uow, body, actor)
    except DomainError as error:
        # The rules speak of buckets and locations; the body names them so.
        error.field = BODY_FIELDS.get(error.field or "", error.field)
        raise


def _movement(
    services: Services, uow: UnitOfWork, body: MovementCreate, actor: str
) -> MovementRecorded:
    repo, ctx = services.stock(uow), services.stock_context(uow, actor)
    kind = body.kind
    if kind == "transfer":
        if body.to_location_id is None:
            raise Invalid(
                "missing_to_location", "a transfer needs to_location_id", "to_location_id"
            )
        transfer = inventory.move(
            repo, ctx, body.location_id, body.to_location_id, body.sku, body.qty, ref=body.ref
        )
        legs = repo.movements(ref=transfer.id)
        return MovementRecorded(
            movements=[movement_public(m) for m in reversed(legs)],
            transfer=transfer_public(transfer),
        )
    if kind == "adjustment":
        movement = inventory.adjust(
            repo,
            ctx,
            body.location_id,
            body.sku,
            body.qty,
            bucket=body.bucket or "sellable",
            ref=body.ref,
            note=body.note,
        )
    elif kind in ("receipt", "return"):
        movement = inventory.receive(
            repo,
            ctx,
            body.location_id,
            body.sku,
            body.qty,
            bucket=body.bucket or "sellable",
            reason=kind,
            ref=body.ref,
            note=body.note,
        )
    else:
        source = body.bucket or FROM_BUCKET.get(kind, "sellable")
        movement = inventory.record(
            repo,
            ctx,
            body.location_id,
            body.sku,
            body.qty,
            source,
            TO_BUCKET.get(kind),
            kind,
            ref=body.ref,
            note=body.note,
        )
    return MovementRecorded(movements=[movement_public(movement)])


@router.post(
    "/api/commerce/stock/movements",
    status_code=201,
    summary="Record a receipt, return, adjustment, damage, display, restock, write-off or transfer",
    responses=error_responses(404, 409),
)
def record_movement(
    body: MovementCreate, services: ServicesDep, caller: CommerceManage
) -> MovementRecorded:
    return _write(services, lambda uow: _record(services, uow, body, caller.actor))


@router.get("/api/commerce/stock/movements", summary="The movement ledger, newest first")
def list_movements(
    services: ServicesDep,
    caller: CommerceRead,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
    ref: Annotated[str | None, Query(max_length=100)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MovementsPublic:
    found = _read(
        services,
        lambda uow: services.stock(uow).movements(
            location_id=location, sku=sku, ref=ref, before=before, limit=limit + 1
        ),
    )
    page = found[:limit]
    return MovementsPublic(
        items=[movement_public(m) for m in page],
        next_before=page[-1].id if len(found) > limit else None,
    )


@router.get("/api/commerce/stock/transfers", summary="Transfers, newest first")
def list_transfers(
    services: ServicesDep,
    caller: CommerceRead,
    location: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(in_transit|received)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TransfersPublic:
    found = _read(
        services,
        lambda uow: services.stock(uow).transfers(location_id=location, status=status, limit=limit),
    )
    return TransfersPublic(items=[transfer_public(t) for t in found])


@router.get("/api/commerce/stock/transfers/{transfer_id}", summary="One transfer")
def get_transfer(transfer_id: str, services: ServicesDep, caller: CommerceRead) -> TransferPublic:
    found = _read(services, lambda uow: inventory.get_transfer(services.stock(uow), transfer_id))
    return transfer_public(found)


@router.post(
    "/api/commerce/stock/transfers/{transfer_id}/receive",
    summary="The destination takes delivery of a transfer (or part of it)",
    responses=error_responses(409),
)
def receive_transfer(
    transfer_id: str, body: TransferReceive, services: ServicesDep, caller: CommerceManage
) -> TransferPublic:
    received = _write(
        services,
        lambda uow: inventory.receive_transfer(
            services.stock(uow),
            services.stock_context(uow, caller.actor),
            transfer_id,
            qty=body.qty,
            bucket=body.bucket,
        ),
    )
    return transfer_public(received)


@router.get(
    "/api/commerce/stock/reconcile",
    summary="Balances that differ from the ledger, or reserved from the active leases",
)
def reconcile(services: ServicesDep, caller: CommerceManage) -> ReconcilePublic:
    found = services.reconcile_stock()
    return ReconcilePublic(differences=[DifferencePublic(**d.__dict__) for d in found])


# -- reservations ----------------------------------------------------------------------------


@router.post(
    "/api/commerce/reservations",
    status_code=201,
    summary="Reserve stock under a lease (the same key answers with the same reservation)",
    responses=error_responses(404, 409),
)
def create_reservation(
    body: ReservationCreate, services: ServicesDep, caller: CommerceSell
) -> ReservationPublic:
    lease = services.hold_stock(
        location_id=body.location_id,
        sku=body.sku,
        qty=body.qty,
        lease_seconds=body.lease_seconds,
        key=body.key,
        ref=body.ref,
        remote=body.remote,
        actor=caller.actor,
    )
    return reservation_public(lease)


@router.get("/api/commerce/reservations/{reservation_id}", summary="One reservation")
def get_reservation(
    reservation_id: str, services: ServicesDep, caller: CommerceRead
) -> ReservationPublic:
    found = _read(
        services, lambda uow: inventory.get_reservation(services.stock(uow), reservation_id)
    )
    return reservation_public(found)


@router.post(
    "/api/commerce/reservations/{reservation_id}/release",
    summary="Let a lease go (again: no change)",
    responses=error_responses(409),
)
def release_reservation(
    reservation_id: str, services: ServicesDep, caller: CommerceSell
) -> ReservationPublic:
    return reservation_public(_write(services, lambda uow: services.release(uow, reservation_id)))


@router.post(
    "/api/commerce/reservations/{reservation_id}/commit",
    summary="The reserved stock leaves as a sale or shipment (again: the same movement)",
    responses=error_responses(409),
)
def commit_reservation(
    reservation_id: str, body: ReservationCommit, services: ServicesDep, caller: CommerceSell
) -> MovementPublic:
    movement = _write(
        services,
        lambda uow: services.commit_reservation(
            uow, reservation_id, reason=body.reason, ref=body.ref, actor=caller.actor
        ),
    )
    return movement_public(movement)


@router.post(
    "/api/commerce/reservations/{reservation_id}/extend",
    summary="Renew a live lease from now",
    responses=error_responses(409),
)
def extend_reservation(
    reservation_id: str, body: ReservationExtend, services: ServicesDep, caller: CommerceSell
) -> ReservationPublic:
    lease = _write(
        services,
        lambda uow: services.extend(uow, reservation_id, lease_seconds=body.lease_seconds),
    )
    return reservation_public(lease)


# -- availability ----------------------------------------------------------------------------


@router.get("/api/commerce/availability/{sku}", summary="Available units of a SKU at each location")
def get_availability(
    sku: str, services: ServicesDep, caller: CommerceRead, remote: bool = False
) -> AvailabilityPublic:
    inventory.check_sku(sku)

    def work(uow: UnitOfWork) -> AvailabilityPublic:
        counts = services.availability(uow, sku, remote=remote)
        now = uow.clock.now()
        items = [
            AvailabilityItem(
                location_id=place.id,
                name=place.name,
                kind=place.kind,
                capabilities=sorted(place.capabilities),
                available=counts[place.id],
                open_now=locations.is_open(place.hours, now),
            )
            for place in services.locations(uow)
            if place.id in counts
        ]
        return AvailabilityPublic(sku=sku, total=sum(i.available for i in items), items=items)

    return _read(services, work)
