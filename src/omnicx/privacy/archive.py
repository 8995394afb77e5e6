"""The subject-access archive: a zip of `manifest.json`, `<domain>.json` (every table of the
domain as a list of rows) and `<domain>/<table>.csv` (the same rows, one column per field,
nested values as JSON). Pure: sections in, bytes out."""

import base64
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from omnicx.privacy.messages import ExportSection
from omnicx.privacy.model import AuditEntry

AUDIT_COLUMNS = tuple(AuditEntry.__dataclass_fields__)


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot go into an export")


def to_json(value: Any) -> bytes:
    return orjson.dumps(
        value, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


def table_csv(rows: list[dict[str, Any]]) -> bytes:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def build_archive(manifest: dict[str, Any], sections: list[ExportSection]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", to_json(manifest))
        for section in sections:
            archive.writestr(f"{section.domain}.json", to_json(section.tables))
            for table, rows in section.tables.items():
                archive.writestr(f"{section.domain}/{table}.csv", table_csv(rows))
    return buffer.getvalue()


def audit_csv(entries: Iterable[AuditEntry]) -> Iterator[bytes]:
    """Audit entries as CSV, a few hundred rows per chunk (for streaming)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for count, entry in enumerate(entries, 1):
        row = asdict(entry)
        writer.writerow([_cell(row[column]) for column in AUDIT_COLUMNS])
        if count % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def audit_jsonl(entries: Iterable[AuditEntry]) -> Iterator[bytes]:
    """Audit entries as JSON lines."""
    for entry in entries:
        yield orjson.dumps(asdict(entry)) + b"\n"
