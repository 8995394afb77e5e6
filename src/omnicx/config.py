"""Settings come from `OMNICX_*` environment variables; `load_settings()` builds them."""

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUILTIN_KINDS = ("user_id", "anonymous_id", "email", "phone", "loyalty_id")

SENSITIVE_FIELDS = ("email", "phone", "address", "birthday", "date_of_birth", "notes")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

DEFAULT_BLOCKED = {
    "*": ["", "null", "none", "nil", "undefined", "anonymous", "unknown", "0", "-1", "n/a", "test"],
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNICX_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means the embedded SQLite file under data_dir.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    run_worker: bool = Field(default=True, description="Run the worker beside `serve`.")
    worker_mode: Literal["process", "thread"] = Field(
        default="process",
        description="process: a child process on its own core; thread: inside the server.",
    )

    default_region: str = Field(default="BR", description="Region for phones typed without +CC.")
    identifier_kinds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Custom identifier kinds beside the built-in ones, e.g. pos_customer_id.",
    )
    identity_limits: dict[str, int] = Field(default_factory=lambda: {"user_id": 1})
    blocked_identifiers: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_BLOCKED.items()}
    )

    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"
    max_event_bytes: int = 32 * 1024
    max_body_bytes: int = 500 * 1024
    ingest_chunk_events: int = 10000

    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0
    webhook_timeout_seconds: float = 10.0

    # access
    session_hours: float = Field(
        default=12.0, gt=0, description="A staff session ends this long after sign-in."
    )
    session_idle_minutes: float = Field(
        default=120.0, gt=0, description="A staff session unused this long ends."
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest body of an /api request (not tracking)."
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory:// (one process) or "
        "redis://host:6379/0 (shared by several servers).",
    )
    rate_limit_tracking_key: str = Field(
        default="1000/second", description="Tracking requests per source write key."
    )
    rate_limit_tracking_address: str = Field(
        default="1000/second", description="Tracking requests per client address."
    )
    rate_limit_login_address: str = Field(
        default="20/minute;200/hour", description="Sign-in attempts per client address."
    )
    rate_limit_login_email: str = Field(
        default="10/minute;50/hour", description="Sign-in attempts per email."
    )
    rate_limit_api: str = Field(
        default="50/second;1200/minute", description="/api requests per API key or session."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed, comma-separated.",
    )

    # protection at rest
    data_keys: SecretStr | None = Field(
        default=None,
        description="Data keys as id:base64(32 bytes), comma-separated, the primary first; "
        "unset means the key file <data_dir>/omnicx-keys.json, created once.",
    )
    index_key: SecretStr | None = Field(
        default=None, description="Base64 key (32+ bytes) of the look-up hashes."
    )
    sensitive_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SENSITIVE_FIELDS),
        description="Keys whose values are sealed at rest; empty turns sealing off.",
    )
    key_refresh_seconds: float = Field(
        default=5.0, ge=0, description="How often a running process looks for rotated keys."
    )

    # privacy
    retention_events_days: int = Field(
        default=396, ge=0, description="Days raw events are kept, by event time; 0 keeps them."
    )
    retention_dead_letters_days: int = Field(
        default=30, ge=0, description="Days ingestion dead letters are kept; 0 keeps them."
    )
    retention_webhook_deliveries_days: int = Field(
        default=30, ge=0, description="Days delivered and dead webhook deliveries are kept."
    )
    retention_export_archives_days: int = Field(
        default=7, ge=0, description="Days a subject-access export archive can be downloaded."
    )
    retention_identity_conflicts_days: int = Field(
        default=365, ge=0, description="Days identity conflicts are kept; 0 keeps them."
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often the worker applies the retention policies."
    )

    @field_validator("identifier_kinds", "sensitive_fields", mode="before")
    @classmethod
    def _split_kinds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"trusted proxy {proxy!r} is not an address or network") from None
        return proxies

    @field_validator("identifier_kinds")
    @classmethod
    def _check_kinds(cls, kinds: list[str]) -> list[str]:
        for kind in kinds:
            if not kind.isidentifier() or kind != kind.lower():
                raise ValueError(f"identifier kind {kind!r} must be a lower-case name")
        return kinds

    def data_key_list(self) -> list[tuple[str, bytes]] | None:
        """The data keys from OMNICX_DATA_KEYS, primary first; None when unset.

        Parsed here rather than by a validator so that an error never echoes a key.
        """
        if self.data_keys is None or not self.data_keys.get_secret_value().strip():
            return None
        return _parse_data_keys(self.data_keys.get_secret_value())

    def index_key_bytes(self) -> bytes | None:
        if self.index_key is None or not self.index_key.get_secret_value().strip():
            return None
        key = _base64(self.index_key.get_secret_value(), "OMNICX_INDEX_KEY")
        if len(key) < 32:
            raise ValueError(f"OMNICX_INDEX_KEY must decode to at least 32 bytes, not {len(key)}")
        return key

    @property
    def all_identifier_kinds(self) -> tuple[str, ...]:
        return BUILTIN_KINDS + tuple(k for k in self.identifier_kinds if k not in BUILTIN_KINDS)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'omnicx.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def retention_policies(self) -> dict[str, int]:
        """Days to keep, per data kind (0 keeps for good)."""
        return {
            "events": self.retention_events_days,
            "dead_letters": self.retention_dead_letters_days,
            "webhook_deliveries": self.retention_webhook_deliveries_days,
            "export_archives": self.retention_export_archives_days,
            "identity_conflicts": self.retention_identity_conflicts_days,
        }


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


def _parse_data_keys(text: str) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID.match(key_id):
            raise ValueError(
                "OMNICX_DATA_KEYS: each key must be written id:base64, "
                "the id 1-32 of A-Z a-z 0-9 - _"
            )
        if any(key_id == k for k, _ in keys):
            raise ValueError(f"OMNICX_DATA_KEYS: key id {key_id!r} appears twice")
        key = _base64(encoded, f"OMNICX_DATA_KEYS: key {key_id!r}")
        if len(key) != 32:
            raise ValueError(
                f"OMNICX_DATA_KEYS: key {key_id!r} must decode to 32 bytes, not {len(key)}"
            )
        keys.append((key_id, key))
    return keys


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
