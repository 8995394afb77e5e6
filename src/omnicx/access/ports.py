from typing import Protocol

from omnicx.access.model import ApiKey


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey, secret_hash: str) -> None: ...
    def by_hash(self, secret_hash: str) -> ApiKey | None: ...
