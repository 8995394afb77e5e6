"""Service, campaign and availability reports and QR codes, wired to storage: the read models'
reactions on the bus, the reports over them, and the QR codes' scans.

The edges reach all of it through `Services.service_analytics`, never through this package.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from omnicx.analytics import qr
from omnicx.analytics.campaigns import CampaignRow, campaign_rows
from omnicx.analytics.service import (
    AvailabilityGaps,
    Counts,
    Friction,
    ReasonCell,
    ReportQuery,
    channel_reasons,
    friction,
)
from omnicx.analytics.store import service_availability
from omnicx.analytics.store.qr import QrCode, SqlQrRepository, scan_row
from omnicx.analytics.store.service_campaigns import CampaignReadModels, SqlCampaignRepository
from omnicx.analytics.store.service_desk import (
    BREACH,
    SWITCH,
    ServiceReadModels,
    SqlServiceRepository,
)
from omnicx.commerce.catalog import BusStockView, CatalogConfig
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.events.messages import EventsStored
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Conflict, Invalid, MessageBus, NotFound, new_id
from omnicx.kernel.moments import micros
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject
from omnicx.profiles import Identifier
from omnicx.profiles.store import SqlProfileRepository


@dataclass(frozen=True)
class ServiceAnalyticsConfig:
    currency: str
    message_costs: Mapping[str, Decimal]
    """Cost of one message per channel, in minor units of `currency` (fractions allowed)."""
    attribution_days: int
    public_url: str
    """Where /q/ is served: the start of every printed code."""
    uid_key: bytes


@dataclass(frozen=True)
class Scan:
    """What a scan did: where it sends the visitor, and whose timeline it landed on."""

    location: str
    customer_id: str | None


class ServiceAnalytics:
    DOMAIN = "analytics_service"

    def __init__(
        self,
        cipher: FieldCipher,
        config: ServiceAnalyticsConfig,
        catalog_config: Callable[[], CatalogConfig],
    ) -> None:
        self.cipher = cipher
        self.config = config
        self.catalog_config = catalog_config
        self.desk = ServiceReadModels()
        self.campaign_models = CampaignReadModels(
            cipher, attribution_days=config.attribution_days, currency=config.currency
        )
        self._bus: MessageBus | None = None

    def register(self, bus: MessageBus) -> None:
        self._bus = bus
        self.desk.register(bus)
        self.campaign_models.register(bus)
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

    # -- reports -----------------------------------------------------------------------------

    def _service(self, uow: UnitOfWork, query: ReportQuery) -> SqlServiceRepository:
        repo = SqlServiceRepository(uow.conn)
        if query.segment is not None and not repo.segment_exists(query.segment):
            raise Invalid("unknown_segment", f"no segment {query.segment}", "segment")
        return repo

    def channel_reasons(self, uow: UnitOfWork, query: ReportQuery) -> list[ReasonCell]:
        return channel_reasons(self._service(uow, query).cells(query))

    def friction(self, uow: UnitOfWork, query: ReportQuery) -> Friction:
        repo = self._service(uow, query)
        per_channel: dict[str, Counts] = {}
        for (channel, _), counts in repo.cells(query).items():
            per_channel.setdefault(channel, Counts()).add(counts)
        whole = ReportQuery(query.start, query.end, segment=query.segment)
        return friction(
            per_channel, repo.friction(whole, SWITCH), repo.friction(whole, BREACH), query.channel
        )

    def campaigns(self, uow: UnitOfWork, query: ReportQuery) -> list[CampaignRow]:
        totals = SqlCampaignRepository(uow.conn, self.cipher).totals(query)
        return campaign_rows(
            totals.counts,
            totals.sends_by_channel,
            self.config.message_costs,
            totals.names,
            self.config.currency,
        )

    def availability_gaps(self, uow: UnitOfWork, query: ReportQuery) -> AvailabilityGaps:
        assert self._bus is not None, "register the service analytics on the bus first"
        return service_availability.gaps(
            uow.conn,
            self.cipher,
            BusStockView(self._bus, uow),
            self.catalog_config(),
            query,
            uow.clock.now(),
        )

    # -- QR codes ----------------------------------------------------------------------------

    def create_qr(self, uow: UnitOfWork, definition: qr.QrDefinition, actor: str) -> QrCode:
        repo = SqlQrRepository(uow.conn)
        if definition.store_id is not None:
            assert self._bus is not None, "register the service analytics on the bus first"
            known = {location.id for location in BusStockView(self._bus, uow).locations()}
            if definition.store_id not in known:
                raise Invalid("unknown_store", f"no location {definition.store_id}", "store")
        for _ in range(5):
            code = qr.new_code()
            if not repo.code_taken(code):
                return repo.add(new_id(), code, definition, actor, uow.clock.now())
        raise Conflict("code_unavailable", "no free code was found; try again", "code")

    def qr_codes(self, uow: UnitOfWork, query: ReportQuery) -> list[QrCode]:
        return SqlQrRepository(uow.conn).listing(query.start, query.end)

    def qr_code(self, uow: UnitOfWork, code_id: str) -> QrCode:
        found = SqlQrRepository(uow.conn).get(code_id)
        if found is None:
            raise NotFound("qr_code_not_found", f"no QR code {code_id}", "id")
        return found

    def scan_url(self, code: QrCode, customer_id: str | None = None) -> str:
        """What the printed code holds; for one customer (a receipt), with their signed id."""
        uid = qr.sign_uid(self.config.uid_key, customer_id) if customer_id else None
        return qr.scan_url(self.config.public_url, code.code, uid)

    def _visitor(self, uow: UnitOfWork, uid: str | None, anonymous_id: str | None) -> str | None:
        """The customer (canonical id) a scan comes from, when it can be told."""
        profiles = SqlProfileRepository(uow.conn, self.cipher)
        profile_id = qr.verify_uid(self.config.uid_key, uid) if uid else None
        if profile_id is None and anonymous_id:
            wanted = Identifier("anonymous_id", anonymous_id)
            profile_id = profiles.owners({wanted}).get(wanted)
        if profile_id is None:
            return None
        profile = profiles.get(profile_id)
        return profile.canonical_id if profile is not None else None

    def _by_code(self, uow: UnitOfWork, code: str) -> QrCode:
        found = SqlQrRepository(uow.conn).by_code(code) if qr.CODE.match(code) else None
        if found is None:
            raise NotFound("qr_code_not_found", "this code is not one of ours", "code")
        return found

    def landing(self, uow: UnitOfWork, code: str) -> str:
        """Where a scan of `code` goes, without counting it (NotFound when it is not ours)."""
        found = self._by_code(uow, code)
        return qr.landing_url(found.target_url, found.code, found.medium, found.campaign)

    def scan(
        self, uow: UnitOfWork, code: str, *, uid: str | None, anonymous_id: str | None
    ) -> Scan:
        """Count a scan of `code` and, for a known visitor, put it on their timeline; NotFound
        for a code that is not ours. The caller commits."""
        found = self._by_code(uow, code)
        now = uow.clock.now()
        customer_id = self._visitor(uow, uid, anonymous_id)
        SqlQrRepository(uow.conn).count_scan(found.id, customer_id is not None, now)
        if customer_id is not None:
            events = SqlEventRepository(uow.conn, self.cipher)
            (event_id,) = events.allocate_ids(1)
            row = scan_row(event_id, new_id(), found, customer_id, micros(now))
            events.insert_events([row])
            uow.raise_event(EventsStored([row]))
        location = qr.landing_url(found.target_url, found.code, found.medium, found.campaign)
        return Scan(location, customer_id)

    # -- privacy -----------------------------------------------------------------------------

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        ids = query.subject.profile_ids
        tables = SqlServiceRepository(uow.conn).customer_rows(ids)
        tables["analytics_campaign_sends"] = SqlCampaignRepository(
            uow.conn, self.cipher
        ).customer_rows(ids)
        return ExportSection(self.DOMAIN, tables)

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        ids = query.subject.profile_ids
        counts = SqlServiceRepository(uow.conn).erase_customer(ids)
        counts["analytics_campaign_sends"] = SqlCampaignRepository(
            uow.conn, self.cipher
        ).erase_customer(ids)
        return ErasureReport(self.DOMAIN, counts)
