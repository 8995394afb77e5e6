"""Where the keys come from: the settings (environment) or a key file made once.

The key file `<data_dir>/omnicx-keys.json` (mode 0600) holds every data key by id, which one is
primary, and the index key. It is created atomically the first time any process needs it, so
the embedded mode and the demo need no set-up; `rotate` writes a new primary beside the old
keys and replaces the file atomically, and running processes notice the change by its inode
and modification time.
"""

import base64
import binascii
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

log = logging.getLogger("omnicx.crypto")

KEY_FILE = "omnicx-keys.json"
DATA_KEY_BYTES = 32
MIN_INDEX_KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEFAULT_SENSITIVE = ("email", "phone", "address", "birthday", "date_of_birth", "notes")


class KeyFileError(Exception):
    """The key file cannot be read or does not hold valid keys."""


@dataclass(frozen=True)
class Keyring:
    """AES-256-GCM data keys by id (`primary` seals, every key opens) and the HMAC index key."""

    data_keys: dict[str, bytes]
    primary: str
    index_key: bytes

    def __post_init__(self) -> None:
        if self.primary not in self.data_keys:
            raise ValueError(f"primary data key {self.primary!r} is not among the data keys")
        for key_id, key in self.data_keys.items():
            if not KEY_ID.match(key_id):
                raise ValueError(f"data key id {key_id!r} must be 1-32 letters, digits, - or _")
            if len(key) != DATA_KEY_BYTES:
                raise ValueError(f"data key {key_id!r} must be {DATA_KEY_BYTES} bytes")
        if len(self.index_key) < MIN_INDEX_KEY_BYTES:
            raise ValueError(f"the index key must be at least {MIN_INDEX_KEY_BYTES} bytes")


class KeySource(Protocol):
    """Gives the current keyring; `refreshed` returns a newer one when the keys changed."""

    origin: str

    def keyring(self) -> Keyring: ...
    def refreshed(self) -> Keyring | None: ...


class StaticKeys:
    """Keys from the settings: they change only with a restart."""

    origin = "environment (OMNICX_DATA_KEYS, OMNICX_INDEX_KEY)"

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def keyring(self) -> Keyring:
        return self._keyring

    def refreshed(self) -> Keyring | None:
        return None


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyFileError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{what} is not valid base64") from None


class KeyFile:
    """The key file: created once, read again when another process rotated it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.origin = f"key file {path}"
        self._stamp: tuple[int, int] | None = None
        self._keyring = self._load_or_create()

    def keyring(self) -> Keyring:
        return self._keyring

    def refreshed(self) -> Keyring | None:
        try:
            stamp = self._stat()
        except OSError:
            return None
        if stamp == self._stamp:
            return None
        self._keyring = self._read()
        log.info("data keys re-read from %s: primary %s", self.path, self._keyring.primary)
        return self._keyring

    def rotate(self) -> Keyring:
        """Add a new primary data key; the old ones stay for reading. Returns the new ring."""
        current = self._read()
        numbers = [int(k[1:]) for k in current.data_keys if re.fullmatch(r"k\d+", k)]
        key_id = f"k{max(numbers, default=0) + 1}"
        while key_id in current.data_keys:
            key_id = f"k{secrets.token_hex(4)}"
        ring = Keyring({key_id: new_data_key(), **current.data_keys}, key_id, current.index_key)
        self._write(ring, replace=True)
        self._keyring = self._read()
        return self._keyring

    def drop_old(self) -> list[str]:
        """Forget every data key but the primary; returns the ids dropped."""
        current = self._read()
        dropped = [k for k in current.data_keys if k != current.primary]
        if dropped:
            keep = {current.primary: current.data_keys[current.primary]}
            self._write(Keyring(keep, current.primary, current.index_key), replace=True)
            self._keyring = self._read()
        return dropped

    # -- the file --------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int]:
        info = os.stat(self.path)
        return (info.st_ino, info.st_mtime_ns)

    def _load_or_create(self) -> Keyring:
        if not self.path.exists():
            ring = Keyring({"k1": new_data_key()}, "k1", secrets.token_bytes(32))
            if self._write(ring, replace=False):
                log.info("data keys created in %s", self.path)
        return self._read()

    def _read(self) -> Keyring:
        try:
            stamp = self._stat()
            raw = self.path.read_bytes()
        except OSError as error:
            raise KeyFileError(f"cannot read the key file {self.path}: {error.strerror}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise KeyFileError(f"the key file {self.path} is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("data_keys"), dict):
            raise KeyFileError(f"the key file {self.path} has no data_keys object")
        keys = {
            str(k): _unb64(v, f"data key {k!r} in {self.path}")
            for k, v in data["data_keys"].items()
        }
        try:
            ring = Keyring(
                keys,
                str(data.get("primary")),
                _unb64(data.get("index_key"), f"index_key in {self.path}"),
            )
        except ValueError as error:
            raise KeyFileError(f"the key file {self.path}: {error}") from None
        self._stamp = stamp
        return ring

    def _write(self, ring: Keyring, *, replace: bool) -> bool:
        """Write atomically; with replace=False keep a file another process made first."""
        body = orjson.dumps(
            {
                "version": 1,
                "primary": ring.primary,
                "data_keys": {k: _b64(v) for k, v in ring.data_keys.items()},
                "index_key": _b64(ring.index_key),
            },
            option=orjson.OPT_INDENT_2,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".omnicx-keys-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            if replace:
                os.replace(tmp, self.path)
                return True
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            return True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def load_key_source(
    data_keys: list[tuple[str, bytes]] | None, index_key: bytes | None, data_dir: Path
) -> StaticKeys | KeyFile:
    """Keys from the settings when given (the first data key is primary), else the key file."""
    if data_keys:
        if index_key is None:
            raise KeyFileError("OMNICX_INDEX_KEY must be set together with OMNICX_DATA_KEYS")
        source: StaticKeys | KeyFile = StaticKeys(
            Keyring(dict(data_keys), data_keys[0][0], index_key)
        )
    else:
        if index_key is not None:
            raise KeyFileError("OMNICX_DATA_KEYS must be set together with OMNICX_INDEX_KEY")
        source = KeyFile(data_dir / KEY_FILE)
    log.info("data keys from %s, primary %s", source.origin, source.keyring().primary)
    return source
