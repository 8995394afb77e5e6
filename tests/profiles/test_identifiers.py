import pytest

from omnicx.kernel import Invalid
from omnicx.profiles import normalize, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "raw", ["+55 11 91234-5678", "(11) 91234-5678", "5511912345678", "011 91234 5678"]
)
def test_brazilian_phones_typed_any_way_are_one_phone(raw: str) -> None:
    assert normalize_phone(raw, "BR") == "+5511912345678"


def test_old_eight_digit_mobile_gets_its_ninth_digit() -> None:
    assert normalize_phone("(11) 8765-4321", "BR") == "+5511987654321"


def test_landline_keeps_eight_digits() -> None:
    assert normalize_phone("(11) 3456-7890", "BR") == "+551134567890"


def test_foreign_phone_with_country_code() -> None:
    assert normalize_phone("+1 (415) 555-2671", "BR") == "+14155552671"


@pytest.mark.parametrize("raw", ["12", "not a phone", "(11) 1234-5678"])
def test_invalid_phones_are_refused(raw: str) -> None:
    with pytest.raises(Invalid) as error:
        normalize_phone(raw, "BR")
    assert error.value.code == "invalid_phone"


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ana.Silva@Example.COM ") == "ana.silva@example.com"


@pytest.mark.parametrize("raw", ["ana", "ana@", "@example.com", "ana@example", "a b@example.com"])
def test_invalid_emails_are_refused(raw: str) -> None:
    with pytest.raises(Invalid) as error:
        normalize_email(raw)
    assert error.value.code == "invalid_email"


def test_other_kinds_are_trimmed_strings() -> None:
    assert normalize("loyalty_id", "  LC-001 ", "BR").value == "LC-001"
    assert normalize("user_id", 42, "BR").value == "42"
    with pytest.raises(Invalid):
        normalize("user_id", "   ", "BR")
    with pytest.raises(Invalid):
        normalize("user_id", True, "BR")
