import base64
import os
import stat
from pathlib import Path

import pytest

from omnicx.bootstrap import StartupError, build_cipher
from omnicx.config import Settings
from omnicx.crypto import FieldCipher, KeyFile, KeyFileError, Keyring, SealBroken

K1, K2, INDEX = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
FIELDS = frozenset({"email", "phone", "address", "birthday", "date_of_birth", "notes"})


def cipher(primary: str = "k1", fields: frozenset[str] = FIELDS) -> FieldCipher:
    return FieldCipher(Keyring({"k1": K1, "k2": K2}, primary, INDEX), fields)


@pytest.mark.parametrize(
    "value", ["ana@example.com", "", 42, 1.5, True, None, ["a", 1], {"street": "Rua A", "n": 7}]
)
def test_a_sealed_value_opens_to_what_it_was(value: object) -> None:
    c = cipher()
    token = c.seal(value)
    assert token.startswith("enc:v1:k1:")
    assert c.open(token) == value
    assert c.is_sealed(token) is True
    assert c.is_sealed("ana@example.com") is False


def test_sealing_twice_gives_two_tokens_and_no_plaintext() -> None:
    c = cipher()
    first, second = c.seal("ana@example.com"), c.seal("ana@example.com")
    assert first != second
    assert "ana" not in first


def test_an_altered_token_is_refused() -> None:
    c = cipher()
    token = c.seal("ana@example.com")
    raw = bytearray(base64.urlsafe_b64decode(token.rsplit(":", 1)[1]))
    raw[-1] ^= 1
    altered = token.rsplit(":", 1)[0] + ":" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(SealBroken, match="under data key 'k1' was altered"):
        c.open(altered)


def test_a_token_moved_to_another_key_id_is_refused() -> None:
    c = cipher()
    token = c.seal("ana@example.com")
    with pytest.raises(SealBroken, match="under data key 'k2' was altered"):
        c.open(token.replace("enc:v1:k1:", "enc:v1:k2:"))


def test_a_token_under_an_unknown_key_is_refused() -> None:
    token = cipher().seal("ana@example.com")
    only_k2 = FieldCipher(Keyring({"k2": K2}, "k2", INDEX), FIELDS)
    with pytest.raises(SealBroken, match="unknown data key 'k1'"):
        only_k2.open(token)
    with pytest.raises(SealBroken, match="not a sealed value"):
        only_k2.open("ana@example.com")


def test_old_keys_still_open_after_the_primary_changes() -> None:
    token = cipher("k1").seal("ana")
    newer = cipher("k2")
    assert newer.open(token) == "ana"
    assert newer.needs_reseal(token) is True
    assert newer.needs_reseal(newer.seal("ana")) is False


def test_blind_is_stable_keyed_and_kind_bound() -> None:
    c = cipher()
    digest = c.blind("email", "ana@example.com")
    assert digest == cipher("k2").blind("email", "ana@example.com")
    assert len(digest) == 43
    assert digest != c.blind("user_id", "ana@example.com")
    other = FieldCipher(Keyring({"k1": K1}, "k1", b"\x04" * 32), FIELDS)
    assert other.blind("email", "ana@example.com") != digest


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("email", True),
        ("Email", True),
        ("work_email", True),
        ("phone", True),
        ("mobilePhone", True),
        ("address", True),
        ("billing_address", True),
        ("street", True),
        ("dateOfBirth", True),
        ("date_of_birth", True),
        ("birthday", True),
        ("dob", True),
        ("notes", True),
        ("note", True),
        ("name", False),
        ("plan", False),
        ("emailVerified", False),
    ],
)
def test_sensitive_keys_are_recognised_however_written(key: str, sensitive: bool) -> None:
    assert cipher().is_sensitive(key) is sensitive


def test_seal_sensitive_seals_at_any_depth_and_reveal_opens_all() -> None:
    c = cipher()
    obj = {
        "name": "Ana",
        "email": "ana@example.com",
        "address": {"street": "Rua A", "city": "São Paulo"},
        "orders": [{"id": 1, "notes": "leave at door"}],
        "traits": {"dob": "1990-01-02", "plan": "gold"},
    }
    sealed = c.seal_sensitive(obj)
    assert sealed["name"] == "Ana"
    assert c.is_sealed(sealed["email"])
    assert c.is_sealed(sealed["address"])
    assert c.is_sealed(sealed["orders"][0]["notes"])
    assert sealed["orders"][0]["id"] == 1
    assert c.is_sealed(sealed["traits"]["dob"])
    assert sealed["traits"]["plan"] == "gold"
    assert obj["email"] == "ana@example.com"
    assert c.reveal(sealed) == obj
    assert c.seal_sensitive(sealed) is sealed
    plain = {"name": "Ana", "plan": "gold"}
    assert c.seal_sensitive(plain) is plain


def test_with_no_sensitive_fields_nothing_is_sealed() -> None:
    c = cipher(fields=frozenset())
    obj = {"email": "ana@example.com"}
    assert c.seal_sensitive(obj) is obj
    assert c.seal_under("email", "ana@example.com") == "ana@example.com"
    assert c.is_sensitive("email") is False


def test_payload_bytes_round_trip() -> None:
    c = cipher()
    blob = c.seal_bytes(b'[{"email":"ana@example.com"}]')
    assert blob.startswith(b"enc:v1:k1:")
    assert b"ana" not in blob
    assert c.open_bytes(blob) == b'[{"email":"ana@example.com"}]'
    assert c.open_bytes(b"[]") == b"[]"
    with pytest.raises(SealBroken, match="altered"):
        c.open_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))


def test_the_key_file_is_made_once_private_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "omnicx-keys.json"
    first = KeyFile(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert KeyFile(path).keyring() == first.keyring()
    ring = first.rotate()
    assert ring.primary == "k2"
    assert set(ring.data_keys) == {"k1", "k2"}
    assert ring.index_key == first.keyring().index_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_running_cipher_follows_a_rotated_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, key_refresh_seconds=0)
    running = build_cipher(settings)
    old = running.seal("ana")
    KeyFile(tmp_path / "omnicx-keys.json").rotate()
    token = running.seal("ana")
    assert token.startswith("enc:v1:k2:")
    assert running.open(old) == "ana"


def test_a_malformed_key_file_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "omnicx-keys.json").write_text("{not json")
    with pytest.raises(StartupError, match=r"omnicx-keys\.json is not JSON"):
        build_cipher(Settings(data_dir=tmp_path))
    (tmp_path / "omnicx-keys.json").write_text('{"data_keys": {"k1": "AAAA"}, "primary": "k1"}')
    with pytest.raises(KeyFileError, match="index_key"):
        KeyFile(tmp_path / "omnicx-keys.json")


@pytest.mark.parametrize(
    ("data_keys", "index_key", "message"),
    [
        ("k1", "A" * 44, "OMNICX_DATA_KEYS: each key must be written id:base64"),
        ("k1:!!!", "A" * 44, "OMNICX_DATA_KEYS: key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"x" * 16).decode(), "A" * 44, "must decode to 32 bytes"),
        (f"k1:{base64.b64encode(K1).decode()},k1:{base64.b64encode(K2).decode()}", "", "twice"),
        (f"k1:{base64.b64encode(K1).decode()}", "", "OMNICX_INDEX_KEY must be set"),
        (f"k1:{base64.b64encode(K1).decode()}", "AAAA", "OMNICX_INDEX_KEY must decode to"),
        ("", base64.b64encode(INDEX).decode(), "OMNICX_DATA_KEYS must be set"),
    ],
)
def test_malformed_key_settings_name_the_setting(
    tmp_path: Path, data_keys: str, index_key: str, message: str
) -> None:
    settings = Settings(data_dir=tmp_path, data_keys=data_keys, index_key=index_key)
    with pytest.raises(StartupError, match=message) as caught:
        build_cipher(settings)
    assert base64.b64encode(K1).decode() not in str(caught.value)
    assert not (tmp_path / "omnicx-keys.json").exists()


def test_keys_from_the_environment_put_the_first_key_first(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        data_keys=f"k2:{base64.b64encode(K2).decode()}, k1:{base64.b64encode(K1).decode()}",
        index_key=base64.b64encode(INDEX).decode(),
    )
    c = build_cipher(settings)
    assert c.primary == "k2"
    assert c.open(cipher("k1").seal("ana")) == "ana"
    assert c.blind("email", "a@b.co") == cipher().blind("email", "a@b.co")
    assert not (tmp_path / "omnicx-keys.json").exists()
