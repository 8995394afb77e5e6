"""Settings come from `OMNICX_*` environment variables; `load_settings()` builds them."""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUILTIN_KINDS = ("user_id", "anonymous_id", "email", "phone", "loyalty_id")

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

    @field_validator("identifier_kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("identifier_kinds")
    @classmethod
    def _check_kinds(cls, kinds: list[str]) -> list[str]:
        for kind in kinds:
            if not kind.isidentifier() or kind != kind.lower():
                raise ValueError(f"identifier kind {kind!r} must be a lower-case name")
        return kinds

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


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
