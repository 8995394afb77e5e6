"""Normalising identifiers: emails lower-cased and trimmed, phones to E.164."""

import re
from functools import lru_cache

import phonenumbers

from omnicx.kernel import Invalid
from omnicx.profiles.model import Identifier

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_VALUE_LENGTH = 320


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if len(value) > MAX_VALUE_LENGTH or not _EMAIL.match(value):
        raise Invalid("invalid_email", f"{raw!r} is not an email address")
    return value


@lru_cache(maxsize=16384)
def normalize_phone(raw: str, region: str) -> str:
    """E.164 for a phone typed any usual way; Brazil's missing ninth mobile digit is restored.
    Remembered: the same customers write and buy again, and parsing is the costly part."""
    text = raw.strip()
    candidates = [text]
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and digits:
        candidates.append("+" + digits.removeprefix("00"))
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        fixed = _with_brazilian_ninth_digit(number)
        if fixed is not None:
            return fixed
    raise Invalid("invalid_phone", f"{raw!r} is not a valid phone number")


def _with_brazilian_ninth_digit(number: phonenumbers.PhoneNumber) -> str | None:
    national = str(number.national_number)
    if number.country_code != 55 or len(national) != 10 or national[2] not in "6789":
        return None
    patched = phonenumbers.PhoneNumber(
        country_code=55, national_number=int(national[:2] + "9" + national[2:])
    )
    if phonenumbers.is_valid_number(patched):
        return phonenumbers.format_number(patched, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalize(kind: str, raw: object, region: str) -> Identifier:
    """An identifier of `kind` from an outside value; raises Invalid naming the problem."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise Invalid(f"invalid_{kind}", f"{kind} must be a string")
    text = str(raw)
    if kind == "email":
        return Identifier(kind, normalize_email(text))
    if kind == "phone":
        return Identifier(kind, normalize_phone(text, region))
    value = text.strip()
    if not value:
        raise Invalid(f"invalid_{kind}", f"{kind} is empty")
    if len(value) > MAX_VALUE_LENGTH:
        raise Invalid(f"invalid_{kind}", f"{kind} is longer than {MAX_VALUE_LENGTH} characters")
    return Identifier(kind, value)
