"""Sealing values with AES-256-GCM and blinding identifiers with HMAC-SHA256.

A token is `enc:v1:<key id>:<base64url(nonce || ciphertext || tag)>`; the plaintext is the
value's JSON (orjson), so a string, a number or a whole nested object seals alike and opens to
what it was. The associated data binds the format and the key id, so a token cannot be moved to
another key id. `blind(kind, value)` is the keyed hash that look-ups and uniqueness use instead
of the value: the same input always gives the same 43 characters, and nobody without the index
key can compute or test one.
"""

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omnicx.crypto.keys import Keyring, KeySource
from omnicx.crypto.names import SensitiveNames

PREFIX = "enc:v1:"
PREFIX_BYTES = PREFIX.encode()
NONCE_BYTES = 12


class SealBroken(Exception):
    """A token that cannot be opened: malformed, altered, or under a key we do not hold."""


class FieldCipher:
    """Seals and opens values under a keyring; `source` lets a running process follow
    rotations (checked at most every `refresh_seconds`)."""

    def __init__(
        self,
        keyring: Keyring,
        sensitive: frozenset[str],
        *,
        source: KeySource | None = None,
        refresh_seconds: float = 5.0,
    ) -> None:
        self.sensitive = frozenset(sensitive)
        self.is_sensitive = SensitiveNames(self.sensitive)
        self.enabled = bool(self.is_sensitive)
        self.source = source
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._use(keyring)

    def _use(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.primary = keyring.primary
        self._aeads = {k: AESGCM(v) for k, v in keyring.data_keys.items()}
        self._seal_aead = self._aeads[keyring.primary]
        self._aad = {k: f"{PREFIX}{k}".encode() for k in keyring.data_keys}
        self._head = f"{PREFIX}{keyring.primary}:"
        self._mac = hmac.new(keyring.index_key, digestmod=hashlib.sha256)

    def refresh(self, *, force: bool = False) -> bool:
        """Pick up new keys from the source; True when they changed."""
        if self.source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_seconds:
            return False
        with self._lock:
            self._checked = now
            ring = self.source.refreshed() or self.source.keyring()
            if ring == self.keyring:
                return False
            self._use(ring)
            return True

    # -- single values ---------------------------------------------------------------------

    def seal(self, value: Any) -> str:
        if self.source is not None and time.monotonic() - self._checked >= self.refresh_seconds:
            self.refresh()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._seal_aead.encrypt(nonce, orjson.dumps(value), self._aad[self.primary])
        return self._head + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str) -> Any:
        if not token.startswith(PREFIX):
            raise SealBroken("not a sealed value")
        key_id, sep, body = token[len(PREFIX) :].partition(":")
        if not sep:
            raise SealBroken("a sealed value without a key id")
        aead = self._aeads.get(key_id)
        if aead is None and self.refresh(force=True):
            aead = self._aeads.get(key_id)
        if aead is None:
            raise SealBroken(f"a sealed value under the unknown data key {key_id!r}")
        try:
            raw = base64.urlsafe_b64decode(body)
        except (binascii.Error, ValueError):
            raise SealBroken("a sealed value that is not base64url") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SealBroken("a sealed value too short to be one")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad[key_id])
        except InvalidTag:
            raise SealBroken(f"a sealed value under data key {key_id!r} was altered") from None
        return orjson.loads(plain)

    @staticmethod
    def is_sealed(value: Any) -> bool:
        return isinstance(value, str) and value.startswith(PREFIX)

    @staticmethod
    def key_of(token: str) -> str:
        return token[len(PREFIX) :].partition(":")[0]

    def reveal(self, value: Any) -> Any:
        """`value` with every sealed token in it (strings, dict values, list items) opened."""
        if isinstance(value, str):
            return self.open(value) if value.startswith(PREFIX) else value
        if isinstance(value, dict):
            return {k: self.reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.reveal(v) for v in value]
        return value

    # -- whole payloads as bytes -----------------------------------------------------------

    def seal_bytes(self, data: bytes) -> bytes:
        """`data` sealed as `enc:v1:<key id>:` + nonce + ciphertext, for binary columns."""
        if self.source is not None and time.monotonic() - self._checked >= self.refresh_seconds:
            self.refresh()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._seal_aead.encrypt(nonce, data, self._aad[self.primary])
        return self._head.encode() + nonce + sealed

    def open_bytes(self, blob: bytes) -> bytes:
        """The inverse of `seal_bytes`; bytes that were never sealed come back as they are."""
        if not blob.startswith(PREFIX_BYTES):
            return blob
        key_id, sep, raw = blob[len(PREFIX_BYTES) :].partition(b":")
        name = key_id.decode("ascii", "replace")
        aead = self._aeads.get(name)
        if aead is None and self.refresh(force=True):
            aead = self._aeads.get(name)
        if not sep or aead is None:
            raise SealBroken(f"a sealed payload under the unknown data key {name!r}")
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad[name])
        except InvalidTag:
            raise SealBroken(f"a sealed payload under data key {name!r} was altered") from None

    def bytes_need_reseal(self, blob: bytes) -> bool:
        if self.enabled:
            return not blob.startswith(self._head.encode())
        return blob.startswith(PREFIX_BYTES)

    def reseal_bytes(self, blob: bytes) -> bytes:
        """`blob` under the primary key (or in the clear when sealing is off)."""
        plain = self.open_bytes(blob)
        return self.seal_bytes(plain) if self.enabled else plain

    # -- values in their place -------------------------------------------------------------

    def seal_under(self, key: str, value: Any) -> Any:
        """A value stored under `key`: sealed whole when the key is sensitive, else with its
        sensitive parts sealed."""
        if not self.enabled or value is None:
            return value
        if self.is_sensitive(key):
            return self.seal_if(True, value)
        if isinstance(value, dict):
            return self._seal_dict(value)
        if isinstance(value, list):
            return self._seal_list(value)
        return value

    def reseal(self, value: Any, seal: Callable[[Any], Any]) -> Any:
        """What `value` should be at rest now: tokens under an old key opened and `seal`
        applied again (everything opened when sealing is off); `value` itself when it is
        right already."""
        if not self.enabled:
            return self.reveal(value) if self.holds_token(value) else value
        if self.needs_reseal(value):
            return seal(self.reveal(value))
        return seal(value)

    def holds_token(self, value: Any) -> bool:
        if isinstance(value, str):
            return value.startswith(PREFIX)
        if isinstance(value, dict):
            return any(self.holds_token(v) for v in value.values())
        if isinstance(value, list):
            return any(self.holds_token(v) for v in value)
        return False

    def seal_if(self, sensitive: bool, value: Any) -> Any:
        """Seal `value` when `sensitive` and sealing is on (None stays None)."""
        if not sensitive or not self.enabled or value is None or self.is_sealed(value):
            return value
        return self.seal(value)

    # -- look-up hashes --------------------------------------------------------------------

    def blind(self, kind: str, value: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{kind}\x1f{value}".encode())
        return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")

    # -- dictionaries ----------------------------------------------------------------------

    def seal_sensitive(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of `obj` whose values under sensitive keys, at any depth, are sealed whole;
        `obj` itself when nothing is sensitive or sealing is off."""
        if not self.enabled or not obj:
            return obj
        return self._seal_dict(obj)

    def _seal_dict(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        is_sensitive = self.is_sensitive
        for key, value in obj.items():
            if value is None:
                continue
            new: Any
            if is_sensitive(key):
                sealed = isinstance(value, str) and value.startswith(PREFIX)
                new = value if sealed else self.seal(value)
            elif isinstance(value, dict):
                new = self._seal_dict(value)
            elif isinstance(value, list):
                new = self._seal_list(value)
            else:
                continue
            if new is not value:
                if out is None:
                    out = dict(obj)
                out[key] = new
        return obj if out is None else out

    def _seal_list(self, items: list[Any]) -> list[Any]:
        out: list[Any] | None = None
        for i, item in enumerate(items):
            if isinstance(item, dict):
                new: Any = self._seal_dict(item)
            elif isinstance(item, list):
                new = self._seal_list(item)
            else:
                continue
            if new is not item:
                if out is None:
                    out = list(items)
                out[i] = new
        return items if out is None else out

    def needs_reseal(self, value: Any) -> bool:
        """True when `value` holds a token under a data key other than the primary."""
        if isinstance(value, str):
            return value.startswith(PREFIX) and not value.startswith(self._head)
        if isinstance(value, dict):
            return any(self.needs_reseal(v) for v in value.values())
        if isinstance(value, list):
            return any(self.needs_reseal(v) for v in value)
        return False
