"""Settings come from `OMNICX_*` environment variables; `load_settings()` builds them."""

import base64
import binascii
import ipaddress
import re
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUILTIN_KINDS = ("user_id", "anonymous_id", "email", "phone", "loyalty_id")

SENSITIVE_FIELDS = ("email", "phone", "address", "birthday", "date_of_birth", "notes")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

DEFAULT_OPT_OUT_KEYWORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "REVOKE",
    "PARAR",
    "PARE",
    "CANCELAR",
    "SAIR",
    "DESCADASTRAR",
    "BAJA",
    "ALTO",
    "DETENER",
)

DEFAULT_BLOCKED = {
    "*": ["", "null", "none", "nil", "undefined", "anonymous", "unknown", "0", "-1", "n/a", "test"],
}


class TwilioAccount(BaseModel):
    """A Twilio account (or subaccount) and the SMS numbers of ours it holds, in E.164."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    numbers: list[str] = Field(default_factory=list)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")


class WhatsAppNumber(BaseModel):
    """One WhatsApp Cloud API phone number: its id and a token allowed to send from it."""

    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    access_token: SecretStr
    display_phone_number: str | None = None
    templates: dict[str, list[str]] | None = Field(
        default=None,
        description="The message templates Meta approved for this number's business account, "
        'by name, with their languages (e.g. {"order_ready": ["pt_BR", "en_US"]}); '
        "when given, any other template is refused before it is queued. Unset: Meta decides.",
    )


class TelegramBot(BaseModel):
    """A Telegram bot's token and the secret its webhook is set with (`secret_token`)."""

    token: SecretStr
    secret_token: SecretStr = Field(min_length=1, max_length=256)


CapWindow = Literal["hour", "day", "week"]


def _default_caps() -> dict[str, dict[str, dict[CapWindow, int]]]:
    return {"marketing": {"*": {"day": 1, "week": 3}}}


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
    rate_limit_qr_address: str = Field(
        default="30/minute",
        description="QR code scans counted per client address; past the limit the visitor "
        "is still redirected but the scan is not counted.",
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
    retention_csat_surveys_days: int = Field(
        default=730,
        ge=0,
        description="Days CSAT surveys (scores and comments) are kept, by when they were asked; "
        "0 keeps them.",
    )
    retention_gate_sends_days: int = Field(
        default=400,
        ge=0,
        description="Days the policy gate's finished sends (sent, delivered, skipped, failed) "
        "and their decisions are kept, by their last change; 0 keeps them.",
    )
    retention_channel_sends_days: int = Field(
        default=30,
        ge=0,
        description="Days finished (sent or given up) outbound sends stay in the outbox; the "
        "messages themselves stay with their conversations. 0 keeps them.",
    )

    # desk
    desk_channel_weights: dict[str, int] = Field(
        default_factory=lambda: {
            "call_center": 3,
            "store": 3,
            "web_chat": 2,
            "whatsapp": 2,
            "sms": 2,
            "telegram": 2,
            "email": 1,
        },
        description="How much of an agent's capacity a conversation takes, by its channel "
        "(JSON); unlisted chat-like channels weigh 2, others 1.",
    )
    desk_default_assignment: Literal["manual", "round_robin", "capacity"] = Field(
        default="round_robin", description="How a new team hands out conversations by default."
    )
    desk_csat_ask: bool = Field(
        default=True, description="Ask the customer for CSAT when a conversation is resolved."
    )
    desk_csat_link_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 90,
        description="How long a CSAT ask (its link and a digit reply) can be answered.",
    )
    desk_sla_check_seconds: float = Field(
        default=60.0, gt=0, description="How often the worker raises SLA warnings and breaches."
    )
    segment_refresh_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often segments whose answer depends on time (windows, `now`, consent, "
        "conversations) are evaluated again.",
    )
    segment_batch: int = Field(
        default=500, ge=1, le=10_000, description="Customers evaluated per segment pass."
    )
    segment_scan_batch: int = Field(
        default=5_000,
        ge=1,
        le=50_000,
        description="Customers per transaction when a segment is evaluated for everyone (a new "
        "or changed definition, a refresh).",
    )
    segment_preview_max_customers: int = Field(
        default=100_000,
        ge=1,
        description="Most customers a dry run of an unsaved segment evaluates.",
    )
    journey_time_zone: str = Field(
        default="UTC",
        max_length=64,
        description="Local times of journeys (wait until 09:00, dates) for customers with no "
        "time zone of their own, when the journey names none.",
    )
    journey_batch: int = Field(
        default=200, ge=1, le=10_000, description="Journey instances moved per transaction."
    )

    @field_validator("desk_channel_weights")
    @classmethod
    def _check_weights(cls, weights: dict[str, int]) -> dict[str, int]:
        for channel, weight in weights.items():
            if not 1 <= weight <= 100:
                raise ValueError(f"desk channel weight of {channel!r} must be 1 to 100")
        return weights

    # consent
    consent_purposes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Custom consent purposes beside transactional, service, marketing and "
        "feedback, comma-separated lower-case names; each needs an explicit grant.",
    )
    opt_out_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_OPT_OUT_KEYWORDS),
        description="A message that is exactly one of these (any case or accents) opts the "
        "customer out, comma-separated.",
    )
    opt_in_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["START", "UNSTOP"],
        description="A message that is exactly one of these subscribes again on its channel.",
    )
    consent_double_opt_in: bool = Field(
        default=True,
        description="Marketing by email granted from a web form or the preference centre "
        "waits for the customer to follow a confirmation link.",
    )
    consent_confirm_hours: float = Field(
        default=168.0, gt=0, le=24 * 90, description="How long a double opt-in link works."
    )
    preference_link_days: float = Field(
        default=365.0, gt=0, description="How long a preference-centre link works."
    )

    @field_validator("consent_purposes", "opt_out_keywords", "opt_in_keywords", mode="before")
    @classmethod
    def _split_consent(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("consent_purposes")
    @classmethod
    def _check_purposes(cls, purposes: list[str]) -> list[str]:
        for purpose in purposes:
            if not re.match(r"^[a-z][a-z0-9_]{0,39}$", purpose):
                raise ValueError(f"consent purpose {purpose!r} must be a lower-case name")
        return purposes

    # conversations
    inbound_batch_max: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Most inbound messages stored together in one transaction (group commit).",
    )
    conversation_reopen_days: int = Field(
        default=7,
        ge=0,
        description="An inbound message joins a conversation resolved this many days ago or "
        "less (reopening it); older ones start a new conversation.",
    )
    contact_reasons: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "order_status",
            "delivery",
            "returns_exchanges",
            "payment",
            "product_question",
            "store_experience",
            "loyalty",
            "complaint",
            "account",
            "other",
        ],
        description="The contact-reason taxonomy, comma-separated lower-case names.",
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest single attachment kept on a message."
    )
    message_attachments_max_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest total of one message's attachments."
    )
    message_max_chars: int = Field(
        default=100_000, gt=0, description="Longest text or HTML body of one message."
    )

    @field_validator("contact_reasons", mode="before")
    @classmethod
    def _split_reasons(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # web chat
    chat_token_hours: float = Field(
        default=24.0, gt=0, description="How long a web-chat visitor's session token is valid."
    )
    chat_away_minutes: float = Field(
        default=5.0,
        gt=0,
        description="A visitor with no open chat widget for this long has left: replies go to "
        "the next reachable channel (email when known).",
    )
    chat_max_text_chars: int = Field(
        default=5000, gt=0, description="Longest message a web-chat visitor may send."
    )
    chat_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often a visitor's stream looks for replies another process queued.",
    )
    live_broker_url: str | None = Field(
        default=None,
        description="redis://host:6379/0 to share the live streams (agents and chat visitors) "
        "between servers and the worker process; unset: in this process only.",
    )

    # providers
    public_base_url: str | None = Field(
        default=None,
        description="The URL providers call omnicx at (https://cx.example.com); Twilio signs "
        "its webhooks over it. Unset: the request's own URL, with X-Forwarded-Proto and "
        "X-Forwarded-Host believed from trusted proxies.",
    )
    provider_timeout_seconds: float = Field(
        default=10.0, gt=0, description="HTTP timeout of one call to Twilio, WhatsApp or Telegram."
    )
    provider_media_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest inbound media file fetched from a provider; a larger one is kept "
        "as a link with a warning.",
    )
    twilio_accounts: dict[str, TwilioAccount] = Field(
        default_factory=dict, description="Twilio accounts by name, each with its SMS numbers."
    )
    twilio_api_base_url: str = "https://api.twilio.com"
    whatsapp_app_secret: SecretStr | None = Field(
        default=None, description="The Meta app secret that signs WhatsApp webhooks."
    )
    whatsapp_verify_token: SecretStr | None = Field(
        default=None, description="The token Meta echoes in the webhook verification handshake."
    )
    whatsapp_numbers: dict[str, WhatsAppNumber] = Field(
        default_factory=dict, description="WhatsApp Cloud API phone numbers by name."
    )
    whatsapp_api_base_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v21.0"
    telegram_bots: dict[str, TelegramBot] = Field(
        default_factory=dict,
        description="Telegram bots by name; each answers at /webhooks/telegram/<name>.",
    )
    telegram_api_base_url: str = "https://api.telegram.org"

    # push, in-app inbox and Viber
    webpush_vapid_private_key: SecretStr | None = Field(
        default=None,
        description="The VAPID private key that signs web pushes: the raw P-256 key in "
        "base64url (as `web-push generate-vapid-keys` prints it), DER in base64url, or PEM. "
        "Unset: no web push.",
    )
    webpush_vapid_subject: str = Field(
        default="mailto:support@localhost",
        pattern=r"^(mailto:|https://)\S+$",
        description="How push services reach the sender (the VAPID `sub` claim).",
    )
    webpush_endpoint_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "fcm.googleapis.com",
            "updates.push.services.mozilla.com",
            "*.notify.windows.com",
            "web.push.apple.com",
        ],
        description="Hosts a web-push subscription's endpoint may be on, comma-separated "
        "(`*.` for any subdomain); endpoints must be https unless on a listed loopback host.",
    )
    push_title: str = Field(
        default="omnicx",
        min_length=1,
        max_length=120,
        description="The title of a push notification whose message has no subject.",
    )
    push_ttl_seconds: int = Field(
        default=4 * 86_400,
        ge=0,
        le=28 * 86_400,
        description="How long a push service keeps a notification for a device that is off.",
    )
    fcm_service_account: SecretStr | None = Field(
        default=None,
        description="The Firebase service account key (its JSON) that mobile push signs in "
        "with. Unset: no mobile push.",
    )
    fcm_project_id: str | None = Field(
        default=None, description="The Firebase project; unset: the service account's own."
    )
    fcm_api_base_url: str = "https://fcm.googleapis.com"
    fcm_token_url: str | None = Field(
        default=None,
        description="Where the service account's signed assertion is exchanged for an access "
        "token; unset: the key's own `token_uri`.",
    )
    inapp_enabled: bool = Field(
        default=False,
        description="Offer the in-app inbox as a channel (replies and the gate may use it for "
        "customers who opened the inbox widget or app).",
    )
    inapp_token_hours: float = Field(
        default=24.0 * 30,
        gt=0,
        description="How long an app token (a signed-in customer's key to the in-app inbox "
        "and push registration) is valid.",
    )
    viber_auth_token: SecretStr | None = Field(
        default=None, description="The Viber bot's auth token; it also signs Viber's callbacks."
    )
    viber_sender_name: str = Field(
        default="omnicx", min_length=1, max_length=28, description="The bot's name on messages."
    )
    viber_sender_avatar: str | None = Field(
        default=None, description="URL of the bot's avatar on messages."
    )
    viber_api_base_url: str = "https://chatapi.viber.com"

    @field_validator("webpush_endpoint_hosts", mode="before")
    @classmethod
    def _split_push_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    # maestro: the policy gate, sends and broadcasts
    frequency_caps: dict[str, dict[str, dict[CapWindow, Annotated[int, Field(ge=0)]]]] = Field(
        default_factory=_default_caps,
        description="Frequency caps (JSON): purpose or purpose:channel, then a category or *, "
        'then a rolling window (hour, day, week) to its limit, e.g. {"marketing": {"*": '
        '{"day": 1, "week": 3}}, "marketing:sms": {"*": {"week": 1}}}.',
    )
    quiet_hours: str = Field(
        default="21:00-08:00",
        pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9])?$",
        description="Local quiet hours HH:MM-HH:MM for customers who set none; empty: none.",
    )
    default_time_zone: str = Field(
        default="UTC", description="IANA time zone of customers who have none (quiet hours)."
    )
    default_language: str = Field(
        default="en", description="Language of messages to customers who have none."
    )
    send_competition_minutes: float = Field(
        default=60.0,
        ge=0,
        description="Promotional sends to one customer this close compete: the higher "
        "priority goes, the other is skipped.",
    )
    channel_costs: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.001, "telegram": 0.0, "whatsapp": 0.03, "sms": 0.05},
        description="Cost of one message per channel (JSON); the gate prefers the cheapest "
        "when nothing else decides.",
    )
    channel_rates: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"sms": 10.0, "whatsapp": 80.0, "telegram": 30.0, "email": 20.0},
        description="Messages a second the dispatcher hands to each channel (JSON), or to one "
        'provider of it ("sms:failover"); unlisted ones are not throttled.',
    )
    send_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts at one message before it is failed."
    )
    send_retry_seconds: float = Field(
        default=5.0, gt=0, description="Wait before the second attempt; it doubles each time."
    )
    send_reconcile_seconds: float = Field(
        default=60.0,
        gt=0,
        description="An attempt unanswered this long (the worker was stopped) is checked with "
        "the provider before anything is sent again; keep it above the provider timeout.",
    )
    broadcast_page_size: int = Field(
        default=500, ge=1, le=10_000, description="Members a broadcast expands per pass."
    )
    email_tracking: bool = Field(
        default=False,
        description="Track opens (a 1x1 pixel) and clicks (signed redirect links through "
        "/t/c/) of the HTML emails the maestro sends; links point at OMNICX_PUBLIC_BASE_URL.",
    )
    sms_failover_accounts: dict[str, TwilioAccount] = Field(
        default_factory=dict,
        description="A second SMS provider speaking Twilio's Messages API, used after two "
        "retryable failures in a row of the first; accounts by name.",
    )
    sms_failover_api_base_url: str | None = Field(
        default=None, description="Base URL of the second SMS provider's Messages API."
    )

    @field_validator("default_time_zone")
    @classmethod
    def _check_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time zone {name!r} is not an IANA time zone") from None
        return name

    @property
    def quiet_hours_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    # email channel
    smtp_enabled: bool = Field(
        default=True, description="Run the SMTP listener beside `serve` (inbound email)."
    )
    smtp_host: str = Field(default="127.0.0.1", description="Address the SMTP listener binds.")
    smtp_port: int = Field(default=2525, ge=0, le=65535, description="Port of the SMTP listener.")
    email_domain: str = Field(
        default="localhost",
        description="Our mail domain: reply+token addresses and our Message-IDs use it.",
    )
    email_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["support@localhost"],
        description="Our mailboxes that accept mail, comma-separated; the first is the From "
        "of replies on a conversation that never received an email.",
    )
    email_accept_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Domains whose every address is ours (catch-all), comma-separated.",
    )
    email_max_message_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest inbound email; larger gets 552."
    )
    smtp_relay_host: str | None = Field(
        default=None, description="SMTP relay for outbound email; unset: replies by email fail."
    )
    smtp_relay_port: int = Field(default=587, ge=1, le=65535)
    smtp_relay_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (submission, port 587), tls (implicit, port 465) or none.",
    )
    smtp_relay_username: str | None = None
    smtp_relay_password: SecretStr | None = None
    smtp_relay_timeout_seconds: float = Field(default=30.0, gt=0)

    # commerce: catalog and prices
    currency: str = Field(
        default="BRL",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency of the price book when a price names none.",
    )
    commerce_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["web", "app", "store", "call_center", "marketplace"],
        description="The sales channels, comma-separated, in report order.",
    )
    commerce_walk_in_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["store"],
        description="Channels sold at a store's counter, comma-separated; the others are "
        "served by locations that ship, ship from store or hand over pickups.",
    )

    @field_validator("commerce_channels", "commerce_walk_in_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("commerce_channels", "commerce_walk_in_channels")
    @classmethod
    def _check_channels(cls, channels: list[str]) -> list[str]:
        for channel in channels:
            if not re.match(r"^[a-z][a-z0-9_]{0,39}$", channel):
                raise ValueError(f"channel {channel!r} must be a lower-case name")
        return list(dict.fromkeys(channels))

    # commerce: inventory
    stock_lease_seconds: int = Field(
        default=900, ge=1, description="How long a reservation holds stock when no lease is asked."
    )
    stock_lease_max_seconds: int = Field(
        default=7 * 86_400, ge=1, description="The longest lease a reservation may ask for."
    )
    stock_expiry_check_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the worker frees the stock of reservations whose lease ended.",
    )

    # commerce: carts, orders and fulfilment
    sourcing_strategy: str = Field(
        default="protect_store_stock",
        description="Where orders are sourced from: nearest_with_stock, priority or "
        "protect_store_stock (distribution centres first, stores last).",
    )
    sourcing_areas: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description='Postcode prefixes and their [latitude, longitude], as JSON (e.g. {"01": '
        "[-23.55, -46.63]}): how nearest_with_stock places an address without coordinates.",
    )
    order_lease_seconds: int = Field(
        default=7 * 86_400,
        ge=60,
        description="How long an order's stock holds last before picking or shipping renews "
        "them (at most OMNICX_STOCK_LEASE_MAX_SECONDS).",
    )
    pickup_hold_hours: int = Field(
        default=72,
        ge=1,
        description="How long a click-and-collect order is held at the store: the pickup "
        "deadline, counted again when it is marked ready.",
    )
    cart_idle_days: int = Field(
        default=30, ge=1, description="Days an untouched cart is kept before the worker drops it."
    )
    cart_expiry_check_seconds: float = Field(
        default=3600.0, gt=0, description="How often the worker drops idle carts."
    )

    # commerce: returns, exchanges and loyalty
    return_window_days: int = Field(
        default=30,
        ge=0,
        description="Days after an order reached the customer that it may come back; 0: always.",
    )
    loyalty_points_per_unit: float = Field(
        default=1.0, ge=0, description="Loyalty points earned per whole currency unit spent."
    )
    loyalty_channel_multipliers: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description='Earn multipliers by channel (JSON), e.g. {"app": 2}; unlisted ones earn x1.',
    )
    loyalty_tiers: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {"member": 0, "silver": 1000, "gold": 5000},
        description="Loyalty tiers and the rolling points that reach each (JSON); the lowest "
        "must be 0.",
    )
    loyalty_tier_window_days: int = Field(
        default=365, ge=1, description="The rolling window of points a tier is reckoned over."
    )

    # journey analytics: channel reports
    analytics_enabled: bool = Field(
        default=True,
        description="Keep the channel reports' read models up to date as facts arrive; off, "
        "nothing is counted and the reports show what was counted before.",
    )
    analytics_purchase_events: list[str] = Field(
        default_factory=lambda: ["Order Completed"],
        description="Tracked events that are purchases (their `total`, `revenue` or `value` is "
        "the amount); commerce's own orders count as they are placed.",
    )
    analytics_contact_events: list[str] = Field(
        default_factory=lambda: ["Call Received"],
        description="Tracked events that are the customer getting in touch; a conversation "
        "opened or reopened by the customer always is.",
    )
    analytics_online_channels: list[str] = Field(
        default_factory=lambda: ["web", "app"],
        description="Channels where customers browse online (online-to-offline conversions).",
    )
    analytics_offline_channels: list[str] = Field(
        default_factory=lambda: ["store"],
        description="Channels customers visit in person (offline-to-online conversions).",
    )
    analytics_conversion_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="A purchase converts online to offline (or back) when the customer browsed "
        "online (or visited a store) at most this many days before.",
    )
    analytics_path_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Channels used longer ago than this before a purchase or a contact leave "
        "its path.",
    )
    analytics_agent_minute_cost: float = Field(
        default=0.0, ge=0, description="What a minute of an agent's time costs, in OMNICX_CURRENCY."
    )
    analytics_reply_minutes: float = Field(
        default=2.0,
        ge=0,
        le=600,
        description="Agent minutes counted for each reply an agent sends (calls count their "
        "own duration).",
    )

    # analytics: campaigns and QR codes
    analytics_message_costs: dict[str, Annotated[Decimal, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Cost of one message sent on each channel, in units of OMNICX_CURRENCY "
        '(JSON), e.g. {"sms": 0.05, "whatsapp": 0.08}; unlisted channels cost nothing. '
        "Campaign ROI divides attributed revenue by it.",
    )
    analytics_attribution_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="An order counts for the campaign whose message reached the customer "
        "within this many days before it (the latest such message).",
    )

    @field_validator("loyalty_tiers")
    @classmethod
    def _check_tiers(cls, tiers: dict[str, int]) -> dict[str, int]:
        if not tiers or min(tiers.values()) != 0:
            raise ValueError("the lowest loyalty tier must start at 0 points")
        if len(set(tiers.values())) != len(tiers):
            raise ValueError("two loyalty tiers have the same threshold")
        return tiers

    @field_validator("email_addresses", "email_accept_domains", mode="before")
    @classmethod
    def _split_mail(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("email_addresses")
    @classmethod
    def _check_mailboxes(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            local, at, domain = address.rpartition("@")
            if not at or not local or not domain or any(c.isspace() for c in address):
                raise ValueError(f"email address {address!r} is not local@domain")
        return [a.lower() for a in addresses]

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

    @field_validator("telegram_bots")
    @classmethod
    def _check_bots(cls, bots: dict[str, "TelegramBot"]) -> dict[str, "TelegramBot"]:
        for name, bot in bots.items():
            if not KEY_ID.match(name):
                raise ValueError(f"telegram bot name {name!r} must be 1-32 of A-Z a-z 0-9 - _")
            if not SECRET_TOKEN.match(bot.secret_token.get_secret_value()):
                raise ValueError(f"telegram bot {name!r}: secret_token may hold A-Z a-z 0-9 _ -")
        return bots

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
            "csat_surveys": self.retention_csat_surveys_days,
            "channel_sends": self.retention_channel_sends_days,
            "gate_sends": self.retention_gate_sends_days,
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
