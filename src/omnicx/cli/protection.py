"""`omnicx keys rotate-data-key` and the sealing pass that `omnicx migrate` runs.

The pass brings every stored value in line with the keys and the sensitive fields in force:
tokens under an older data key are sealed again under the primary, plaintext in a sensitive
place is sealed, identifiers get their look-up hash, and with sealing turned off everything is
opened. It works in small batches, each a short transaction of its own, so a running server
keeps serving; once a pass finishes it is recorded, and the next one under the same primary key
and fields returns at once.
"""

import hashlib
import time
from typing import Any

from omnicx.bootstrap import Services
from omnicx.crypto import KeyFile
from omnicx.crypto.names import normalise
from omnicx.db import UnitOfWork

TABLES = (
    "profiles",
    "identifiers",
    "traits",
    "trait_history",
    "merges",
    "identity_conflicts",
    "events",
    "ingest_dead_letters",
    "outbox",
)


def fields_print(services: Services) -> str:
    """Names the sealing configuration: which fields, or `off`."""
    cipher = services.cipher
    if not cipher.enabled:
        return "off"
    names = ",".join(sorted({normalise(f) for f in cipher.sensitive}))
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def _batch(services: Services, table: str, uow: UnitOfWork, after: Any, limit: int) -> Any:
    if table in ("events", "ingest_dead_letters"):
        return services.events(uow).reseal(table, after, limit)
    if table == "outbox":
        return services.webhooks(uow).reseal(after, limit)
    return services.profiles(uow).reseal(table, after, limit)


def seal_stored(services: Services, *, batch: int = 500, force: bool = False) -> dict[str, int]:
    """Run the sealing pass; returns rows rewritten per table (empty when nothing to do)."""
    cipher = services.cipher
    cipher.refresh(force=True)
    primary, fields = cipher.primary, fields_print(services)
    with services.uow(write=False) as uow:
        last = services.profiles(uow).last_rotation()
    if not force and last and (last["primary_key"], last["fields"]) == (primary, fields):
        return {}
    with services.uow() as uow:
        rotation = services.profiles(uow).start_rotation(primary, fields, uow.clock.now())
        uow.commit()
    counts: dict[str, int] = {}
    for table in TABLES:
        counts[table] = 0
        after: tuple[Any, ...] | None = None
        while True:
            with services.uow() as uow:
                after, changed = _batch(services, table, uow, after, batch)
                uow.commit()
            counts[table] += changed
            if after is None:
                break
    counts["ingest_queue"] = 0
    after = None
    while True:
        after, changed = services.queue.reseal(after, batch)
        counts["ingest_queue"] += changed
        if after is None:
            break
    with services.uow() as uow:
        services.profiles(uow).finish_rotation(rotation, counts, uow.clock.now())
        uow.commit()
    return counts


def rotate_data_key(services: Services, *, batch: int = 500) -> dict[str, Any]:
    """With the key file: a new primary key, then every value sealed under it. With keys from
    the environment: every value sealed under the primary already configured."""
    source = services.cipher.source
    report: dict[str, Any] = {}
    if isinstance(source, KeyFile):
        before = services.cipher.primary
        ring = source.rotate()
        services.cipher.refresh(force=True)
        report["key_file"] = str(source.path)
        report["previous_primary"] = before
        # Running processes look at the key file every key_refresh_seconds; waiting that long
        # (and a little) means none of them seals under the old key once the pass begins.
        wait = services.settings.key_refresh_seconds
        if wait:
            time.sleep(wait + 0.5)
        report["primary"] = ring.primary
    else:
        report["primary"] = services.cipher.primary
        report["how"] = (
            "keys come from OMNICX_DATA_KEYS: to rotate, put a new key first in OMNICX_DATA_KEYS "
            "(the old ones after it) and restart every process, run this command, then drop "
            "the old keys and restart again"
        )
    report["rewritten"] = seal_stored(services, batch=batch, force=True)
    report["readable_keys"] = sorted(services.cipher.keyring.data_keys)
    return report
