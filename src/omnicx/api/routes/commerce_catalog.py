"""The catalog and price book API: reads need commerce.read, changes commerce.manage, and
counting demand (a sell-side act) commerce.sell.

    /api/commerce/products[/{id}]                  products with variants; DELETE archives
    POST /api/commerce/products/{id}/variants      add a variant (a SKU)
    PATCH /api/commerce/variants/{sku}             options, barcode
    PUT /api/commerce/products/{id}/listings/{ch}  the product on one channel
    GET|PUT /api/commerce/prices/{sku}             base price history and quotes; set the base
    POST /api/commerce/prices/{sku}/overrides      a channel price with its reason
    DELETE /api/commerce/prices/overrides/{id}     withdraw an override
    /api/commerce/promotions[/{id}[/end]]          promotions scoped by channel
    GET /api/commerce/quote                        the price of a SKU on a channel, now or then
    GET /api/commerce/availability                 item x channel x location
    POST /api/commerce/demand                      count a request for an item not to be had
    GET /api/commerce/reports/gaps                 availability gaps with the demand they lose
    GET /api/commerce/reports/prices               price consistency between channels
"""

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.commerce_catalog import (
    AvailabilityPublic,
    BasePriceIn,
    BasePricePublic,
    CellPublic,
    DemandCreate,
    DemandPublic,
    GapPublic,
    GapsPublic,
    ListingIn,
    ListingPublic,
    MoneyPublic,
    OverrideCreate,
    OverridePublic,
    PriceItemPublic,
    PriceReportPublic,
    PriceRowPublic,
    PricesPublic,
    ProductChange,
    ProductCreate,
    ProductPublic,
    ProductsPublic,
    PromotionCreate,
    PromotionPublic,
    PromotionsPublic,
    QuotePublic,
    SearchPublic,
    ServiceIn,
    ServicePublic,
    VariantChange,
    VariantIn,
    VariantPublic,
)
from omnicx.bootstrap import Services
from omnicx.commerce import catalog, pricing
from omnicx.commerce.messages import RecordDemand
from omnicx.commerce.model import (
    BasePrice,
    Listing,
    Money,
    PriceOverride,
    Product,
    Promotion,
    Quote,
    ServiceTerms,
    Variant,
)
from omnicx.db import UnitOfWork
from omnicx.kernel import Event, Invalid, NotFound

router = APIRouter(tags=["commerce: catalog and prices"])

CommerceRead = Annotated[Principal, Depends(require("commerce.read"))]
CommerceManage = Annotated[Principal, Depends(require("commerce.manage"))]
CommerceSell = Annotated[Principal, Depends(require("commerce.sell"))]

T = TypeVar("T")

CSV_OR_JSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _write(services: Services, work: Callable[[UnitOfWork], tuple[T, list[Event]]]) -> T:
    with services.uow() as uow:
        result, events = work(uow)
        for event in events:
            uow.raise_event(event)
        uow.commit()
    return result


def _read(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow(write=False) as uow:
        return work(uow)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid("invalid_time", f"{field} needs a time zone (e.g. Z or -03:00)", field)
    return value


# -- shaping answers ----------------------------------------------------------------------------


def money_public(price: Money) -> MoneyPublic:
    return MoneyPublic(
        amount=price.amount, currency=price.currency, formatted=pricing.format_amount(price)
    )


def variant_public(variant: Variant) -> VariantPublic:
    return VariantPublic(
        sku=variant.sku,
        options=variant.options,
        barcode=variant.barcode,
        position=variant.position,
    )


def listing_public(listing: Listing) -> ListingPublic:
    values = dict(listing.__dict__)
    values.pop("product_id")
    return ListingPublic(**values)


def product_public(product: Product) -> ProductPublic:
    service = product.service
    return ProductPublic(
        id=product.id,
        handle=product.handle,
        title=product.title,
        description=product.description,
        kind=product.kind,
        status=product.status,
        attributes=product.attributes,
        service=None
        if service is None
        else ServicePublic(
            duration_minutes=service.duration_minutes, capability=service.capability
        ),
        variants=[variant_public(v) for v in product.variants],
        listings=[listing_public(listing) for listing in product.listings],
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def base_public(price: BasePrice) -> BasePricePublic:
    return BasePricePublic(
        id=price.id,
        sku=price.sku,
        price=money_public(price.price),
        effective_at=price.effective_at,
        actor=price.actor,
    )


def override_public(override: PriceOverride) -> OverridePublic:
    values = dict(override.__dict__)
    values["price"] = money_public(override.price)
    return OverridePublic(**values)


def promotion_public(promotion: Promotion) -> PromotionPublic:
    values = dict(promotion.__dict__)
    for key in ("channels", "skus", "product_ids"):
        values[key] = list(values[key])
    return PromotionPublic(**values)


def quote_public(quote: Quote) -> QuotePublic:
    return QuotePublic(
        sku=quote.sku,
        channel=quote.channel,
        base=money_public(quote.base),
        price=money_public(quote.price),
        reason=quote.reason,
        override=quote.override,
        promotion=quote.promotion,
        promotion_name=quote.promotion_name,
        at=quote.at,
    )


def _service(body: ServiceIn | None) -> ServiceTerms | None:
    if body is None:
        return None
    return ServiceTerms(body.duration_minutes, body.capability)


def _variant(body: VariantIn) -> catalog.VariantDraft:
    return catalog.VariantDraft(body.sku, dict(body.options), body.barcode)


def _find(services: Services, uow: UnitOfWork, product_id: str) -> Product:
    """A product by id, or by its handle."""
    repo = services.catalog(uow)
    product = repo.product(product_id) or repo.product_by_handle(product_id)
    if product is None:
        raise NotFound("product_not_found", f"no product {product_id}", "product_id")
    return product


# -- products -----------------------------------------------------------------------------------


@router.get("/api/commerce/products", summary="List products and services")
def list_products(
    services: ServicesDep,
    caller: CommerceRead,
    q: Annotated[
        str | None, Query(max_length=200, description="Words of the title or handle, or a SKU")
    ] = None,
    kind: Literal["product", "service"] | None = None,
    status: Literal["draft", "active", "archived"] | None = None,
    cursor: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProductsPublic:
    found = _read(
        services,
        lambda uow: services.catalog(uow).products(
            q=q, kind=kind, status=status, after=cursor, limit=limit + 1
        ),
    )
    page = found[:limit]
    more = len(found) > limit
    return ProductsPublic(
        items=[product_public(p) for p in page], next=page[-1].id if more and page else None
    )


@router.post(
    "/api/commerce/products",
    status_code=201,
    summary="Create a product with its variants, or a service with its codes",
    responses=error_responses(409),
)
def create_product(
    body: ProductCreate, services: ServicesDep, caller: CommerceManage
) -> ProductPublic:
    draft = catalog.ProductDraft(
        handle=body.handle,
        title=body.title,
        kind=body.kind,
        description=body.description,
        status=body.status,
        attributes=dict(body.attributes),
        service=_service(body.service),
        variants=tuple(_variant(v) for v in body.variants),
    )
    product = _write(
        services, lambda uow: catalog.create_product(services.catalog(uow), draft, uow.clock.now())
    )
    return product_public(product)


@router.get("/api/commerce/products/{product_id}", summary="One product, by id or handle")
def get_product(product_id: str, services: ServicesDep, caller: CommerceRead) -> ProductPublic:
    return product_public(_read(services, lambda uow: _find(services, uow, product_id)))


@router.patch("/api/commerce/products/{product_id}", summary="Change a product")
def change_product(
    product_id: str, body: ProductChange, services: ServicesDep, caller: CommerceManage
) -> ProductPublic:
    def work(uow: UnitOfWork) -> tuple[Product, list[Event]]:
        product = _find(services, uow, product_id)
        return catalog.change_product(
            services.catalog(uow),
            product.id,
            uow.clock.now(),
            title=body.title,
            description=body.description,
            status=body.status,
            attributes=body.attributes,
            service=_service(body.service),
        )

    changed = _write(services, work)
    return product_public(_read(services, lambda uow: _find(services, uow, changed.id)))


@router.delete(
    "/api/commerce/products/{product_id}",
    summary="Archive a product: no channel sells it; its SKUs stay known to orders and history",
)
def archive_product(
    product_id: str, services: ServicesDep, caller: CommerceManage
) -> ProductPublic:
    def work(uow: UnitOfWork) -> tuple[Product, list[Event]]:
        product = _find(services, uow, product_id)
        return catalog.change_product(
            services.catalog(uow), product.id, uow.clock.now(), status="archived"
        )

    archived = _write(services, work)
    return product_public(_read(services, lambda uow: _find(services, uow, archived.id)))


@router.post(
    "/api/commerce/products/{product_id}/variants",
    status_code=201,
    summary="Add a variant (a SKU) to a product",
    responses=error_responses(409),
)
def add_variant(
    product_id: str, body: VariantIn, services: ServicesDep, caller: CommerceManage
) -> VariantPublic:
    def work(uow: UnitOfWork) -> tuple[Variant, list[Event]]:
        product = _find(services, uow, product_id)
        return catalog.add_variant(
            services.catalog(uow), product.id, _variant(body), uow.clock.now()
        )

    return variant_public(_write(services, work))


@router.patch(
    "/api/commerce/variants/{sku}",
    summary="Change a variant's options or barcode",
    responses=error_responses(409),
)
def change_variant(
    sku: str, body: VariantChange, services: ServicesDep, caller: CommerceManage
) -> VariantPublic:
    variant = _write(
        services,
        lambda uow: catalog.change_variant(
            services.catalog(uow),
            sku,
            uow.clock.now(),
            options=body.options,
            barcode=body.barcode,
        ),
    )
    return variant_public(variant)


@router.put(
    "/api/commerce/products/{product_id}/listings/{channel}",
    summary="Set how a product is listed on one channel",
)
def put_listing(
    product_id: str, channel: str, body: ListingIn, services: ServicesDep, caller: CommerceManage
) -> ListingPublic:
    def work(uow: UnitOfWork) -> tuple[Listing, list[Event]]:
        product = _find(services, uow, product_id)
        return catalog.put_listing(
            services.catalog(uow),
            services.catalog_config(),
            product.id,
            channel,
            published=body.published,
            purchasable=body.purchasable,
            in_store_only=body.in_store_only,
            reason=body.reason,
            title=body.title,
            actor=caller.actor,
            now=uow.clock.now(),
        )

    return listing_public(_write(services, work))


# -- prices -------------------------------------------------------------------------------------


def _known_sku(services: Services, uow: UnitOfWork, sku: str) -> str:
    if services.catalog(uow).item(sku) is None:
        raise NotFound("sku_not_found", f"no sku {sku}", "sku")
    return sku


@router.get(
    "/api/commerce/prices/{sku}", summary="A SKU's price history and its price now per channel"
)
def get_prices(sku: str, services: ServicesDep, caller: CommerceRead) -> PricesPublic:
    config = services.catalog_config()

    def work(uow: UnitOfWork) -> PricesPublic:
        item = services.catalog(uow).item(sku)
        if item is None:
            raise NotFound("sku_not_found", f"no sku {sku}", "sku")
        repo = services.catalog(uow)
        now = uow.clock.now()
        quotes = []
        if repo.base_prices([sku], config.currency, now):
            quotes = [
                quote_public(catalog.quote(repo, config, sku, channel, now, check_listing=False))
                for channel in config.channels
            ]
        return PricesPublic(
            sku=sku,
            base=[base_public(b) for b in repo.base_history(sku)],
            overrides=[override_public(o) for o in repo.overrides([sku])],
            promotions=[
                promotion_public(p) for p in repo.promotions() if p.covers(sku, item.product_id)
            ],
            quotes=quotes,
        )

    return _read(services, work)


@router.put(
    "/api/commerce/prices/{sku}",
    summary="Set a SKU's base price (the same price again changes nothing)",
)
def set_base_price(
    sku: str, body: BasePriceIn, services: ServicesDep, caller: CommerceManage
) -> BasePricePublic:
    def work(uow: UnitOfWork) -> tuple[BasePrice, list[Event]]:
        _known_sku(services, uow, sku)
        currency = pricing.currency_code(body.currency, services.settings.currency)
        return pricing.set_base_price(
            services.catalog(uow),
            sku,
            pricing.money(body.amount, currency),
            caller.actor,
            uow.clock.now(),
        )

    return base_public(_write(services, work))


@router.post(
    "/api/commerce/prices/{sku}/overrides",
    status_code=201,
    summary="Price a SKU differently on one channel, saying why",
    responses=error_responses(409),
)
def add_override(
    sku: str, body: OverrideCreate, services: ServicesDep, caller: CommerceManage
) -> OverridePublic:
    def work(uow: UnitOfWork) -> tuple[PriceOverride, list[Event]]:
        _known_sku(services, uow, sku)
        pricing.channel_name(body.channel, services.catalog_config().channels)
        currency = pricing.currency_code(body.currency, services.settings.currency)
        return pricing.add_override(
            services.catalog(uow),
            sku=sku,
            channel=body.channel,
            price=pricing.money(body.amount, currency),
            reason=body.reason,
            valid_from=_aware(body.valid_from, "valid_from"),
            valid_to=_aware(body.valid_to, "valid_to"),
            actor=caller.actor,
            now=uow.clock.now(),
        )

    return override_public(_write(services, work))


@router.delete(
    "/api/commerce/prices/overrides/{override_id}",
    summary="Withdraw a channel override (it stays in the price history)",
)
def withdraw_override(
    override_id: str, services: ServicesDep, caller: CommerceManage
) -> OverridePublic:
    withdrawn = _write(
        services,
        lambda uow: pricing.withdraw_override(
            services.catalog(uow), override_id, caller.actor, uow.clock.now()
        ),
    )
    return override_public(withdrawn)


# -- promotions ---------------------------------------------------------------------------------


@router.get("/api/commerce/promotions", summary="List promotions")
def list_promotions(
    services: ServicesDep, caller: CommerceRead, ended: bool = False
) -> PromotionsPublic:
    found = _read(services, lambda uow: services.catalog(uow).promotions())
    return PromotionsPublic(
        items=[promotion_public(p) for p in found if ended or p.ended_at is None]
    )


@router.post(
    "/api/commerce/promotions",
    status_code=201,
    summary="Create a promotion for some channels",
    responses=error_responses(404, 409),
)
def create_promotion(
    body: PromotionCreate, services: ServicesDep, caller: CommerceManage
) -> PromotionPublic:
    draft = pricing.PromotionDraft(
        name=body.name,
        kind=body.kind,
        value=body.value,
        channels=tuple(body.channels),
        skus=tuple(body.skus),
        product_ids=tuple(body.product_ids),
        currency=body.currency,
        code=body.code,
        valid_from=_aware(body.valid_from, "valid_from"),
        valid_to=_aware(body.valid_to, "valid_to"),
    )

    def work(uow: UnitOfWork) -> tuple[Promotion, list[Event]]:
        repo = services.catalog(uow)
        for sku in draft.skus:
            if repo.item(sku) is None:
                raise NotFound("sku_not_found", f"no sku {sku}", "skus")
        for product_id in draft.product_ids:
            if repo.product(product_id) is None:
                raise NotFound("product_not_found", f"no product {product_id}", "product_ids")
        return pricing.create_promotion(
            repo,
            draft,
            channels=services.catalog_config().channels,
            default_currency=services.settings.currency,
            actor=caller.actor,
            now=uow.clock.now(),
        )

    return promotion_public(_write(services, work))


@router.get("/api/commerce/promotions/{promotion_id}", summary="One promotion")
def get_promotion(
    promotion_id: str, services: ServicesDep, caller: CommerceRead
) -> PromotionPublic:
    found = _read(services, lambda uow: services.catalog(uow).promotion(promotion_id))
    if found is None:
        raise NotFound("promotion_not_found", f"no promotion {promotion_id}", "promotion_id")
    return promotion_public(found)


@router.post("/api/commerce/promotions/{promotion_id}/end", summary="End a promotion now")
def end_promotion(
    promotion_id: str, services: ServicesDep, caller: CommerceManage
) -> PromotionPublic:
    ended = _write(
        services,
        lambda uow: pricing.end_promotion(
            services.catalog(uow), promotion_id, caller.actor, uow.clock.now()
        ),
    )
    return promotion_public(ended)


# -- quote, availability, demand ----------------------------------------------------------------


@router.get(
    "/api/commerce/quote",
    summary="The price of a SKU on a channel, now or at a past moment",
    responses=error_responses(404),
)
def get_quote(
    services: ServicesDep,
    caller: CommerceRead,
    sku: Annotated[str, Query(max_length=64)],
    channel: Annotated[str, Query(max_length=40)],
    at: Annotated[
        datetime | None,
        Query(description="A moment in the past: answered from the price history."),
    ] = None,
    code: Annotated[str | None, Query(max_length=40, description="A promotion code")] = None,
) -> QuotePublic:
    when = _aware(at, "at")
    found = _read(services, lambda uow: services.quote(uow, sku, channel, when, code=code))
    return quote_public(found)


@router.get(
    "/api/commerce/availability",
    summary="Where a SKU can be bought or served: per channel, and per location serving it",
    responses=error_responses(404),
)
def get_availability(
    services: ServicesDep,
    caller: CommerceRead,
    sku: Annotated[str, Query(max_length=64)],
) -> AvailabilityPublic:
    config = services.catalog_config()

    def work(uow: UnitOfWork) -> AvailabilityPublic:
        repo, stock = services.catalog(uow), services.stock_view(uow)
        cells = catalog.availability(repo, stock, config, sku)
        item = repo.item(sku)
        assert item is not None
        return AvailabilityPublic(
            sku=sku,
            product_id=item.product_id,
            title=item.title,
            kind=item.kind,
            stock_known=any(c.stock is not None for c in cells),
            cells=[
                CellPublic(
                    channel=c.channel,
                    location_id=c.location_id,
                    available=c.available,
                    reason=c.reason,
                    detail=c.detail,
                    stock=c.stock,
                )
                for c in cells
            ],
        )

    return _read(services, work)


@router.post(
    "/api/commerce/demand",
    status_code=201,
    summary="Count a request for an item that could not be had (no customer data)",
    responses=error_responses(404),
)
def record_demand(body: DemandCreate, services: ServicesDep, caller: CommerceSell) -> DemandPublic:
    command = RecordDemand(
        channel=body.channel,
        source=body.source,
        sku=body.sku,
        query=body.query,
        location_id=body.location_id,
    )

    def work(uow: UnitOfWork) -> tuple[DemandPublic, list[Event]]:
        counted = services.record_demand(uow, command)
        return (
            DemandPublic(
                day=uow.clock.now().date(),
                sku=counted.sku,
                channel=counted.channel,
                location_id=counted.location_id,
                source=body.source,
            ),
            [],
        )

    return _write(services, work)


# -- reports ------------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/api/commerce/reports/gaps",
    summary="Items not available on a channel or at a location where they are elsewhere, "
    "with the demand each gap lost",
    response_model=GapsPublic,
    responses=CSV_OR_JSON,
)
def gaps_report(
    services: ServicesDep,
    caller: CommerceRead,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    days: Annotated[int, Query(ge=1, le=366, description="Demand counted over these days")] = 30,
    format: Literal["json", "csv"] = "json",
) -> Response:
    config = services.catalog_config()
    report = _read(
        services,
        lambda uow: catalog.gaps_report(
            services.catalog(uow),
            services.stock_view(uow),
            config,
            uow.clock.now(),
            days=days,
            channel=channel,
        ),
    )
    if format == "csv":
        return _csv(
            (
                "sku",
                "title",
                "channel",
                "location_id",
                "reason",
                "detail",
                "available_elsewhere",
                "demand",
                "lost_value",
                "currency",
            ),
            (
                (
                    g.sku,
                    g.title,
                    g.channel,
                    g.location_id or "",
                    g.reason,
                    g.detail,
                    " ".join(g.available_elsewhere),
                    g.demand,
                    g.lost_value.amount if g.lost_value else "",
                    g.lost_value.currency if g.lost_value else "",
                )
                for g in report.gaps
            ),
            "omnicx-gaps.csv",
        )
    body = GapsPublic(
        at=report.at,
        since=report.since,
        gaps=[
            GapPublic(
                sku=g.sku,
                product_id=g.product_id,
                title=g.title,
                channel=g.channel,
                location_id=g.location_id,
                reason=g.reason,
                detail=g.detail,
                available_elsewhere=list(g.available_elsewhere),
                demand=g.demand,
                lost_value=money_public(g.lost_value) if g.lost_value else None,
            )
            for g in report.gaps
        ],
        searches=[
            SearchPublic(query=s.query, channel=s.channel, count=s.count) for s in report.searches
        ],
    )
    return JsonResponse(body.model_dump(mode="json"))


@router.get(
    "/api/commerce/reports/prices",
    summary="Every price that differs between channels, with its reason; flags the unexplained",
    response_model=PriceReportPublic,
    responses=CSV_OR_JSON,
)
def price_report(
    services: ServicesDep,
    caller: CommerceRead,
    at: Annotated[datetime | None, Query(description="A past moment; now by default")] = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    config = services.catalog_config()
    when = _aware(at, "at")
    report = _read(
        services,
        lambda uow: catalog.price_consistency(
            services.catalog(uow), config, when or uow.clock.now()
        ),
    )
    if format == "csv":
        return _csv(
            (
                "sku",
                "channel",
                "currency",
                "base",
                "price",
                "difference",
                "source",
                "reason",
                "override",
                "promotion",
                "flag",
                "detail",
            ),
            (
                (
                    r.sku,
                    r.channel,
                    r.base.currency,
                    r.base.amount,
                    r.price.amount,
                    r.difference,
                    r.source,
                    r.reason or "",
                    r.override or "",
                    r.promotion or "",
                    r.flag or "",
                    r.detail or "",
                )
                for r in report.rows
            ),
            "omnicx-prices.csv",
        )
    body = PriceReportPublic(
        at=report.at,
        currency=report.currency,
        items=[
            PriceItemPublic(
                sku=i.sku,
                base=money_public(i.base),
                prices={ch: money_public(p) for ch, p in i.prices.items()},
                consistent=i.consistent,
            )
            for i in report.items
        ],
        differences=[
            PriceRowPublic(
                sku=r.sku,
                channel=r.channel,
                base=money_public(r.base),
                price=money_public(r.price),
                difference=r.difference,
                source=r.source,
                reason=r.reason,
                override=r.override,
                promotion=r.promotion,
                flag=r.flag,
                detail=r.detail,
            )
            for r in report.rows
        ],
        flagged=report.flagged,
    )
    return JsonResponse(body.model_dump(mode="json"))
