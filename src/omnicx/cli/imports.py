"""`omnicx import customers`: a CSV of customers, one identify call per good row.

Columns are matched by header (case, spaces and dashes do not matter): the usual names of
email, phone, names, user and loyalty ids, and every identifier kind declared in settings.
Other columns become traits under their own header. A row is rejected, with its line number,
when it has no usable identifier or an identifier that does not normalise; the others go
through parse, acknowledge and the worker like any tracked call.

The messageId of a row is a digest of what it says, so importing a file again adds nothing.
"""

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from omnicx.bootstrap import Services
from omnicx.events import IngestRejected, Source, acknowledge, create_source, parse_call
from omnicx.events.model import CHANNEL_PATTERN
from omnicx.kernel import Invalid
from omnicx.kernel.moments import micros
from omnicx.profiles import normalize
from omnicx.workers import Worker

OK, SOME_REJECTED, UNREADABLE = 0, 1, 2
BATCH_SIZE = 100
DRAIN_EVERY = 2000
DELIMITERS = ",;\t|"

ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "mail", "email_address"),
    "phone": (
        "phone",
        "phone_number",
        "telephone",
        "tel",
        "mobile",
        "mobile_phone",
        "cell",
        "cellphone",
        "celular",
        "telefone",
    ),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "sobrenome"),
    "name": ("name", "full_name", "fullname", "nome"),
    "user_id": ("user_id", "userid", "customer_id", "customerid", "client_id"),
    "anonymous_id": ("anonymous_id", "anonymousid"),
    "loyalty_id": ("loyalty_id", "loyaltyid", "loyalty", "loyalty_card", "loyalty_number"),
}
TRAIT_NAMES = {
    "email": "email",
    "phone": "phone",
    "first_name": "firstName",
    "last_name": "lastName",
    "name": "name",
    "loyalty_id": "loyaltyId",
}
"""Where a mapped column goes in the identify call's traits (Segment's names)."""


class Unreadable(Exception):
    """The file as a whole cannot be imported: missing, not text, no header, clashing columns."""


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str | None
    """The column as the header names it; None when no single column is to blame."""
    reason: str


@dataclass
class Report:
    source: Source | None = None
    rows: int = 0
    imported: int = 0
    unchanged: int = 0
    """Rows already imported before (or repeated in the file): nothing new to write."""
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return SOME_REJECTED if self.rejected else OK


@dataclass(frozen=True)
class Column:
    position: int
    header: str
    target: str
    """A canonical field (email, user_id, a custom kind...) or "trait"."""


def plan_columns(header: list[str], kinds: tuple[str, ...]) -> list[Column]:
    """Which column means what; two columns meaning one field make the file unreadable."""
    lookup = {alias: target for target, aliases in ALIASES.items() for alias in aliases}
    lookup.update({kind: kind for kind in kinds if kind not in lookup})
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for position, raw in enumerate(header):
        name = raw.strip()
        if not name:
            continue  # a trailing separator in the header names nothing
        target = lookup.get(_key(name), "trait")
        meaning = name if target == "trait" else target
        if meaning in seen:
            raise Unreadable(
                f"columns {seen[meaning]!r} and {name!r} both mean {meaning}; rename or remove one"
            )
        seen[meaning] = name
        columns.append(Column(position, name, target))
    return columns


def read_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells); the header first. Blank lines are skipped."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            delimiter = max(DELIMITERS, key=first.count) if first.strip() else ","
            reader = csv.reader(handle, delimiter=delimiter)
            line = 1
            for cells in reader:
                if cells and any(cell.strip() for cell in cells):
                    yield line, cells
                line = reader.line_num + 1
    except FileNotFoundError:
        raise Unreadable(f"{path} does not exist") from None
    except IsADirectoryError:
        raise Unreadable(f"{path} is a directory") from None
    except UnicodeDecodeError as error:
        raise Unreadable(
            f"{path} is not {encoding} text (byte {error.start}); "
            "save it as CSV UTF-8 or pass --encoding, e.g. --encoding cp1252"
        ) from None
    except LookupError:
        raise Unreadable(f"{encoding!r} is not an encoding Python knows") from None
    except csv.Error as error:
        raise Unreadable(f"{path} is not a CSV file: {error}") from None


def import_customers(
    services: Services,
    path: Path,
    channel: str,
    *,
    source_name: str | None = None,
    encoding: str = "utf-8-sig",
    on_start: Callable[[int], None] = lambda _: None,
    on_progress: Callable[[int], None] = lambda _: None,
) -> Report:
    """Read, check and ingest the file; raises Unreadable before writing anything."""
    if not CHANNEL_PATTERN.match(channel):
        raise Unreadable(f"channel {channel!r} must be a lower-case name such as store or web")
    rows = read_rows(path, encoding)
    try:
        _, header = next(rows)
    except StopIteration:
        raise Unreadable(f"{path} is empty: line 1 must be a header naming the columns") from None
    kinds = services.settings.all_identifier_kinds
    columns = plan_columns(header, kinds)
    if not any(c.target in kinds for c in columns):
        raise Unreadable(
            f"no column of {path} names an identifier; use one of "
            f"{', '.join(_identifier_kinds(kinds))}"
        )
    report = Report()
    received = services.clock.now()
    accepted: list[tuple[str, dict[str, Any]]] = []
    for line, cells in rows:
        report.rows += 1
        payload = _call(line, cells, len(header), columns, services, report)
        if payload is None:
            continue
        try:
            parsed = parse_call(
                payload,
                "identify",
                received_at=received,
                default_channel=channel,
                limits=services.limits,
                identity=services.identity,
            )
        except IngestRejected as error:
            item = error.items[0] if error.items else {}
            reason = item.get("message", error.message)
            report.rejected.append(Rejection(line, item.get("field"), reason))
            continue
        if parsed.warnings:
            warning = parsed.warnings[0]
            report.rejected.append(Rejection(line, warning["field"], warning["message"]))
            continue
        accepted.append((payload["messageId"], parsed.events[0]))

    report.source = _source(services, source_name or f"Import ({channel})", channel)
    fresh = _fresh(services, report.source, accepted)
    report.unchanged = len(accepted) - len(fresh)
    report.imported = len(fresh)
    on_start(len(fresh))
    worker = Worker(services)
    sent = 0
    for start in range(0, len(fresh), BATCH_SIZE):
        chunk = fresh[start : start + BATCH_SIZE]
        acknowledge(services.queue, report.source, chunk, micros(received))
        sent += len(chunk)
        if sent % DRAIN_EVERY == 0:
            worker.drain()
        on_progress(len(chunk))
    worker.drain()
    return report


def _call(
    line: int,
    cells: list[str],
    width: int,
    columns: list[Column],
    services: Services,
    report: Report,
) -> dict[str, Any] | None:
    """The identify call of one row, or None after recording why the row is rejected."""
    if len(cells) > width:
        report.rejected.append(
            Rejection(line, None, f"the row has {len(cells)} cells, the header {width}")
        )
        return None
    region = services.settings.default_region
    user_id: str | None = None
    anonymous_id: str | None = None
    traits: dict[str, str] = {}
    usable = 0
    for column in columns:
        value = cells[column.position].strip() if column.position < len(cells) else ""
        if not value:
            continue
        if column.target == "trait":
            traits[column.header] = value
            continue
        if column.target in ("first_name", "last_name", "name"):
            traits[TRAIT_NAMES[column.target]] = value
            continue
        try:
            identifier = normalize(column.target, value, region)
        except Invalid as error:
            report.rejected.append(Rejection(line, column.header, error.message))
            return None
        if not services.rules.is_blocked(identifier):
            usable += 1
        if column.target == "user_id":
            user_id = value
        elif column.target == "anonymous_id":
            anonymous_id = value
        else:
            traits[TRAIT_NAMES.get(column.target, column.target)] = value
    if not usable:
        kinds = ", ".join(_identifier_kinds(services.settings.all_identifier_kinds))
        report.rejected.append(Rejection(line, None, f"no usable identifier; fill one of {kinds}"))
        return None
    said = {"userId": user_id, "anonymousId": anonymous_id, "traits": traits}
    digest = hashlib.sha1(
        orjson.dumps(said, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()
    payload: dict[str, Any] = {"messageId": f"import-{digest}", "traits": traits}
    if user_id is not None:
        payload["userId"] = user_id
    if anonymous_id is not None or user_id is None:
        # The spec wants a userId or an anonymousId: a row without either gets a stable one.
        payload["anonymousId"] = anonymous_id or f"import:{digest}"
    return payload


def _source(services: Services, name: str, channel: str) -> Source:
    with services.uow() as uow:
        repo = services.events(uow)
        source = repo.source_by_name(name)
        if source is None:
            source = create_source(repo, name, channel, uow.clock.now())
            uow.commit()
    return source


def _fresh(
    services: Services, source: Source, accepted: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The events not imported before, each once."""
    with services.uow(write=False) as uow:
        known = services.events(uow).existing_message_ids({(source.id, m) for m, _ in accepted})
    seen = {message_id for _, message_id in known}
    fresh = []
    for message_id, event in accepted:
        if message_id not in seen:
            seen.add(message_id)
            fresh.append(event)
    return fresh


def _identifier_kinds(kinds: tuple[str, ...]) -> list[str]:
    return [k for k in kinds if k != "anonymous_id"]


def _key(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


def show(console: Console, path: Path, report: Report) -> None:
    source = report.source
    where = f'source "{source.name}" ({source.channel})' if source else "no source"
    show_report(
        console,
        f"{path.name} → {where}",
        (
            ("rows read", report.rows),
            ("imported", report.imported),
            ("already imported", report.unchanged),
        ),
        report.rejected,
        noun="rows",
    )


def show_report(
    console: Console,
    heading: str,
    counts: tuple[tuple[str, int], ...],
    rejected: list[Rejection],
    *,
    noun: str,
) -> None:
    """What a CSV import did: its counts, then every rejected row with its line and column."""
    console.print(heading, markup=False, highlight=False)
    for label, count in (*counts, ("rejected", len(rejected))):
        console.print(f"  {label:<17} {count}", highlight=False)
    if rejected:
        console.print(f"Rejected {noun} (line 1 is the header):")
    for rejection in rejected:
        column = f", column {rejection.field}" if rejection.field else ""
        console.print(
            f"  line {rejection.line}{column}: {rejection.reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
