"""May we contact this customer for this purpose on this channel? Facts in, an answer out.

    1. A suppression that blocks the purpose and channel: no.
    2. The latest record for (purpose, channel) or (purpose, "*"): granted yes, denied or
       revoked no. Of records said at the same instant, the one recorded last wins (one
       request records its every-channel items before its single-channel ones).
    3. Nothing recorded: transactional and service yes (opt-out), any other purpose no
       (opt-in).

What a suppression blocks depends on why it was added:

    reason       channels                          purposes
    legal        every channel                     every purpose
    complained   every channel                     all but transactional
    bounced      its channel (email for an email)  every purpose
    manual       its channel, or every one ("*")   all but transactional
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from omnicx.consent.model import (
    ALL_CHANNELS,
    OPT_OUT_PURPOSES,
    ConsentRecord,
    ContactPermission,
    Suppression,
    consent_channel,
)

CHANNEL_OF_KIND: dict[str, str] = {
    "email": "email",
    "phone": "sms",
    "whatsapp_id": "whatsapp",
    "telegram_id": "telegram",
    "anonymous_id": "web_chat",
    "push_token": "push",
}
"""The channel a suppressed identifier blocks when none is named (a bounce on that kind)."""


@lru_cache(maxsize=4096)
def when(at: datetime) -> str:
    """`at` as a reason shows it (cached: a batch's records share their instants)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _where(channel: str) -> str:
    return "every channel" if channel == ALL_CHANNELS else channel


def describe(record: ConsentRecord) -> str:
    """ "marketing revoked on every channel by keyword PARAR on sms, 2026-11-23 12:00 UTC"."""
    how = record.detail or record.source.method.replace("_", " ")
    said = f" on {record.source.channel}" if record.source.channel != record.channel else ""
    return (
        f"{record.purpose} {record.state} on {_where(record.channel)} by {how}{said}, "
        f"{when(record.at)}"
    )


def blocks(suppression: Suppression, purpose: str, channel: str) -> bool:
    """Whether `suppression` stops a message of `purpose` on `channel`."""
    channel = consent_channel(channel)
    if suppression.reason == "legal":
        return True
    if suppression.reason == "complained":
        return purpose != "transactional"
    on_channel = suppression.channel in (ALL_CHANNELS, channel)
    if suppression.reason == "bounced":
        return on_channel
    return on_channel and purpose != "transactional"


def suppressed_by(
    suppressions: Iterable[Suppression], purpose: str, channel: str
) -> Suppression | None:
    return next((s for s in suppressions if blocks(s, purpose, channel)), None)


def suppression_reason(suppression: Suppression) -> str:
    return (
        f"{suppression.kind} suppressed ({suppression.reason}) on "
        f"{_where(suppression.channel)} since {when(suppression.created_at)}"
    )


def latest(
    consents: Iterable[ConsentRecord], purpose: str, channel: str, now: datetime
) -> ConsentRecord | None:
    """The record that decides (purpose, channel): the latest of the channel's own and the
    every-channel one (on the same instant, the one recorded last: change ids are ordered by
    creation); records dated after `now` do not count yet."""
    channel = consent_channel(channel)
    best: ConsentRecord | None = None
    for record in consents:
        if record.purpose != purpose or record.channel not in (channel, ALL_CHANNELS):
            continue
        if record.at > now:
            continue
        if best is None or (record.at, record.change_id) > (best.at, best.change_id):
            best = record
    return best


def permission(
    consents: Sequence[ConsentRecord],
    purpose: str,
    channel: str,
    *,
    suppressed: bool | str,
    now: datetime,
) -> ContactPermission:
    """Whether a message of `purpose` may go to the customer on `channel`, and why.

    `consents` are the customer's current records; `suppressed` is whether a suppression
    blocks this purpose and channel (a string says why, e.g. from `suppression_reason`).
    """
    channel = consent_channel(channel)
    if suppressed:
        why = suppressed if isinstance(suppressed, str) else f"{channel} is suppressed"
        return ContactPermission(False, why)
    record = latest(consents, purpose, channel, now)
    if record is None:
        if purpose in OPT_OUT_PURPOSES:
            return ContactPermission(True, f"{purpose} is allowed on {channel} unless refused")
        return ContactPermission(False, f"{purpose} not granted on {channel}")
    return ContactPermission(record.state == "granted", describe(record))


def decide(
    consents: Sequence[ConsentRecord],
    suppressions: Sequence[Suppression],
    purpose: str,
    channel: str,
    now: datetime,
) -> ContactPermission:
    """`permission` with the suppression looked up among the customer's suppressions."""
    found = suppressed_by(suppressions, purpose, channel)
    return permission(
        consents,
        purpose,
        channel,
        suppressed=suppression_reason(found) if found is not None else False,
        now=now,
    )
