"""How a reply finds its conversation: our signed Message-IDs and reply+token addresses.

Every message we send carries

    Message-ID: <omnicx.{conversation_id}.{message_id}.{mac}@{domain}>
    Reply-To:   reply+{token}@{domain}      token = {conversation id, 32 hex}{mac}

where `mac` is an HMAC-SHA256 (truncated to 80 bits, hex) under a key derived from the index
key, so nobody outside can forge an address or an id that files mail into someone else's
conversation. Mail systems may change the case of a local part; tokens are lower-case hex
and are compared after lower-casing.

An inbound message is matched in this order: a reply token among its recipients, then its
In-Reply-To and References (newest first) against our scheme. What is left (a Message-ID we
stored from an earlier inbound mail, or none at all) is the conversations domain's to match
against the stored ids, or to open a new conversation.
"""

import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

MAC_CHARS = 20
_LABEL = b"omnicx email threading v1"
_OUR_ID = re.compile(
    r"^<?omnicx\.(?P<conversation>[0-9a-f-]{32,36})\.(?P<message>[0-9a-f-]{32,36})"
    r"\.(?P<mac>[0-9a-f]{20})@(?P<domain>[^<>@\s]+)>?$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"^(?P<conversation>[0-9a-f]{32})(?P<mac>[0-9a-f]{20})$")
_MSG_ID = re.compile(r"<[^<>\s]+>")


def derive_key(index_key: bytes) -> bytes:
    """The threading key: its own HMAC key, derived so it never equals the index key."""
    return hmac.new(index_key, _LABEL, hashlib.sha256).digest()


def message_ids(header: str | None) -> tuple[str, ...]:
    """The `<id>` tokens of an In-Reply-To or References header, in order, without repeats."""
    if not header:
        return ()
    seen: dict[str, None] = {}
    for found in _MSG_ID.findall(header):
        seen.setdefault(found, None)
    return tuple(seen)


@dataclass(frozen=True)
class EmailThreading:
    key: bytes
    domain: str

    def _mac(self, *parts: str) -> str:
        text = ".".join(parts).lower().encode()
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()[:MAC_CHARS]

    # -- what we send ------------------------------------------------------------------------

    def message_id(self, conversation_id: str, message_id: str) -> str:
        conversation, message = _canonical(conversation_id), _canonical(message_id)
        mac = self._mac("msg", conversation, message)
        return f"<omnicx.{conversation}.{message}.{mac}@{self.domain}>"

    def reply_token(self, conversation_id: str) -> str:
        compact = uuid.UUID(_canonical(conversation_id)).hex
        return compact + self._mac("reply", compact)

    def reply_address(self, conversation_id: str) -> str:
        return f"reply+{self.reply_token(conversation_id)}@{self.domain}"

    # -- what comes back ---------------------------------------------------------------------

    def conversation_of_token(self, token: str) -> str | None:
        found = _TOKEN.match(token.strip().lower())
        if found is None:
            return None
        compact = found["conversation"]
        if not hmac.compare_digest(found["mac"], self._mac("reply", compact)):
            return None
        return str(uuid.UUID(compact))

    def token_of_address(self, address: str) -> str | None:
        """The token of `reply+{token}@{our domain}`, unverified; None for any other address."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain.lower():
            return None
        name, plus, token = local.partition("+")
        if not plus or name.lower() != "reply" or not token:
            return None
        return token.lower()

    def conversation_of_message_id(self, message_id: str) -> str | None:
        found = _OUR_ID.match(message_id.strip())
        if found is None or found["domain"].lower() != self.domain.lower():
            return None
        try:
            conversation = _canonical(found["conversation"])
            message = _canonical(found["message"])
        except ValueError:
            return None
        if not hmac.compare_digest(found["mac"].lower(), self._mac("msg", conversation, message)):
            return None
        return conversation

    def match(
        self, recipients: Iterable[str], in_reply_to: Iterable[str], references: Iterable[str]
    ) -> tuple[str | None, str | None]:
        """(the reply token found, the conversation it or our Message-IDs point to)."""
        token = None
        for address in recipients:
            candidate = self.token_of_address(address)
            if candidate is None:
                continue
            token = candidate
            conversation = self.conversation_of_token(candidate)
            if conversation is not None:
                return token, conversation
        for message_id in (*in_reply_to, *reversed(tuple(references))):
            conversation = self.conversation_of_message_id(message_id)
            if conversation is not None:
                return token, conversation
        return token, None


def _canonical(identifier: str) -> str:
    """A UUID in its hyphenated lower-case form (ids are UUIDv7); ValueError otherwise."""
    return str(uuid.UUID(identifier.strip().lower()))
