"""Delivery status notifications (RFC 3464): a bounce is news about a message we sent, not a
message from a customer.

A report is `multipart/report; report-type=delivery-status` with a `message/delivery-status`
part (one block of fields per recipient: Final-Recipient, Action, Status, Diagnostic-Code) and
the original message or its headers, whose Message-ID names what bounced.
"""

import email
import email.policy
from dataclasses import dataclass
from email.message import Message
from typing import Literal


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None
    """The Message-ID of the message that did not arrive, with its angle brackets."""
    recipients: tuple[str, ...]
    """Addresses that failed for good (Action: failed, Status 5.x.x)."""
    action: Literal["failed", "delayed"]
    diagnostic: str


def read_bounce(raw: bytes) -> Bounce | None:
    """The report in `raw`, or None when it is not a delivery status notification (or tells
    only of delivery, relay or expansion)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        return None
    report_type = message.get_param("report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    status_part: Message | None = None
    original: Message | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status" and status_part is None:
            status_part = part
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = part
    if status_part is None:
        return None
    failed: list[str] = []
    delayed = False
    diagnostics: list[str] = []
    for block in _blocks(status_part):
        action = block.get("action", "").lower()
        status = block.get("status", "")
        recipient = _address(block.get("final-recipient") or block.get("original-recipient"))
        if action == "failed" or status.startswith("5."):
            if recipient:
                failed.append(recipient)
            diagnostics.append(block.get("diagnostic-code") or status or "failed")
        elif action == "delayed" or status.startswith("4."):
            delayed = True
    if not failed and not delayed:
        return None
    return Bounce(
        original_message_id=_original_id(original),
        recipients=tuple(dict.fromkeys(failed)),
        action="failed" if failed else "delayed",
        diagnostic="; ".join(" ".join(d.split()) for d in diagnostics)[:500] or "delayed",
    )


def _blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a delivery-status part."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):  # parsed by the email package as a list of header blocks
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): str(v) for k, v in block.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _address(field: str | None) -> str | None:
    """`rfc822; ana@example.com` → `ana@example.com`."""
    if not field:
        return None
    value = field.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return value if "@" in value else None


def _original_id(part: Message | None) -> str | None:
    if part is None:
        return None
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        headers = inner[0] if isinstance(inner, list) and inner else None
        found = headers.get("Message-ID") if isinstance(headers, Message) else None
    else:
        text = part.get_payload(decode=True)
        parsed = email.message_from_bytes(text if isinstance(text, bytes) else b"")
        found = parsed.get("Message-ID")
    if not found:
        return None
    value = str(found).strip()
    return value if value.startswith("<") else f"<{value.strip('<>')}>"
