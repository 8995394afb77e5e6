"""Storage plumbing: engines, column types, the unit of work and the transactional outbox."""

from omnicx.db.engine import Engines, create_engines
from omnicx.db.metadata import metadata
from omnicx.db.outbox import enqueue, outbox
from omnicx.db.types import JsonValue, UtcDateTime
from omnicx.db.uow import Savepoint, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "Engines",
    "JsonValue",
    "Savepoint",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UtcDateTime",
    "create_engines",
    "enqueue",
    "metadata",
    "outbox",
]
