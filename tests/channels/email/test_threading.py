from omnicx.channels.email import EmailThreading
from omnicx.channels.email.threading import derive_key, message_ids
from tests.channels.email.conftest import DOMAIN

CONVERSATION = "01a207ab-e1a6-78e7-90b0-cecd0282d9bc"
MESSAGE = "01a207ab-e1a6-79bd-af0e-2b55a06aa3ff"


def test_our_message_id_names_its_conversation(threading_keys: EmailThreading) -> None:
    mid = threading_keys.message_id(CONVERSATION, MESSAGE)
    assert mid.startswith(f"<omnicx.{CONVERSATION}.{MESSAGE}.")
    assert mid.endswith(f"@{DOMAIN}>")
    assert threading_keys.conversation_of_message_id(mid) == CONVERSATION
    assert threading_keys.conversation_of_message_id(mid.upper()) == CONVERSATION


def test_a_forged_or_foreign_message_id_matches_nothing(threading_keys: EmailThreading) -> None:
    mid = threading_keys.message_id(CONVERSATION, MESSAGE)
    other = "01a207ab-e1a6-78e7-90b0-000000000000"
    forged = mid.replace(CONVERSATION, other)
    elsewhere = EmailThreading(derive_key(b"x" * 32), DOMAIN).message_id(CONVERSATION, MESSAGE)
    assert threading_keys.conversation_of_message_id(forged) is None
    assert threading_keys.conversation_of_message_id(elsewhere) is None
    assert threading_keys.conversation_of_message_id(mid.replace(DOMAIN, "evil.example")) is None
    assert threading_keys.conversation_of_message_id("<abc@example.com>") is None


def test_reply_address_survives_case_changes(threading_keys: EmailThreading) -> None:
    address = threading_keys.reply_address(CONVERSATION)
    local = address.partition("@")[0]
    assert local.startswith("reply+")
    assert len(local) <= 64
    token = threading_keys.token_of_address(address.upper().replace(DOMAIN.upper(), DOMAIN))
    assert token is not None
    assert threading_keys.conversation_of_token(token) == CONVERSATION


def test_a_forged_reply_token_matches_nothing(threading_keys: EmailThreading) -> None:
    token = threading_keys.reply_token(CONVERSATION)
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert threading_keys.conversation_of_token(forged) is None
    assert threading_keys.conversation_of_token("nothex") is None
    assert threading_keys.token_of_address(f"reply+{token}@other.example") is None
    assert threading_keys.token_of_address(f"support@{DOMAIN}") is None


def test_match_prefers_the_reply_token_then_in_reply_to_then_references(
    threading_keys: EmailThreading,
) -> None:
    first = "01a207ab-e1a6-78e7-90b0-cecd0282d9b1"
    second = "01a207ab-e1a6-78e7-90b0-cecd0282d9b2"
    third = "01a207ab-e1a6-78e7-90b0-cecd0282d9b3"
    by_token = threading_keys.reply_address(first)
    replied = threading_keys.message_id(second, MESSAGE)
    referenced = threading_keys.message_id(third, MESSAGE)
    token = threading_keys.reply_token(first)
    assert threading_keys.match([by_token], [replied], [referenced]) == (token, first)
    assert threading_keys.match([f"support@{DOMAIN}"], [replied], [referenced]) == (None, second)
    assert threading_keys.match([], ["<x@y>"], [referenced, "<z@y>"]) == (None, third)
    assert threading_keys.match([], ["<x@y>"], ["<z@y>"]) == (None, None)


def test_message_ids_are_read_in_order_without_repeats() -> None:
    header = "<a@x> junk <b@x>\r\n <a@x> <c@x>"
    assert message_ids(header) == ("<a@x>", "<b@x>", "<c@x>")
    assert message_ids(None) == ()
    assert message_ids("no ids here") == ()
