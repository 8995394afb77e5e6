from dataclasses import dataclass
from datetime import datetime

ROLES = ("admin", "read_only")


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
