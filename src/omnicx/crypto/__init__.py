"""Protection at rest: sealed fields (AES-256-GCM) and keyed look-up hashes (HMAC-SHA256).

    Keyring       data keys by id (one primary that seals, the others only open) + index key
    KeyFile       the key file under the data directory, created once, rotated in place
    FieldCipher   seal / open / reveal values, blind identifiers, seal sensitive keys in dicts
    names         which dictionary keys are sensitive (email, phone, address, birthday, notes)

A sealed value is a self-describing string `enc:v1:<key id>:<base64url(nonce || ciphertext)>`,
so any column of text or JSON can hold one and `reveal` can open it without knowing the schema.
"""

from omnicx.crypto.cipher import PREFIX, FieldCipher, SealBroken
from omnicx.crypto.keys import (
    DEFAULT_SENSITIVE,
    KEY_FILE,
    KeyFile,
    KeyFileError,
    Keyring,
    KeySource,
    load_key_source,
    new_data_key,
)

__all__ = [
    "DEFAULT_SENSITIVE",
    "KEY_FILE",
    "PREFIX",
    "FieldCipher",
    "KeyFile",
    "KeyFileError",
    "KeySource",
    "Keyring",
    "SealBroken",
    "load_key_source",
    "new_data_key",
]
