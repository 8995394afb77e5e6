"""`omnicx.events.parse`: validation, identifiers and timestamps of Segment-spec calls.

Pure: no database, no HTTP.
"""

import gzip
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from omnicx.config import BUILTIN_KINDS
from omnicx.events import IngestLimits, IngestRejected, Parsed, decode_body, parse_call
from omnicx.events.parse import IdentityConfig
from omnicx.kernel.moments import micros

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
LIMITS = IngestLimits()
IDENTITY = IdentityConfig(kinds=(*BUILTIN_KINDS, "device_id"), region="BR")


def parse(
    payload: Any,
    call_type: str | None = None,
    *,
    default_channel: str | None = "web",
    limits: IngestLimits = LIMITS,
) -> Parsed:
    return parse_call(
        payload,
        call_type,
        received_at=RECEIVED,
        default_channel=default_channel,
        limits=limits,
        identity=IDENTITY,
    )


def rejected(
    payload: Any, call_type: str | None = None, *, limits: IngestLimits = LIMITS
) -> IngestRejected:
    with pytest.raises(IngestRejected) as caught:
        parse(payload, call_type, limits=limits)
    return caught.value


def one(payload: dict[str, Any], call_type: str | None = None) -> dict[str, Any]:
    parsed = parse(payload, call_type)
    assert len(parsed.events) == 1
    assert parsed.warnings == []
    return parsed.events[0]


# -- each call type's required fields -----------------------------------------------------


@pytest.mark.parametrize("call_type", ["identify", "track", "page", "screen", "group", "alias"])
def test_each_call_type_accepts_its_minimal_call(call_type: str) -> None:
    minimal: dict[str, dict[str, Any]] = {
        "identify": {"userId": "u1"},
        "track": {"userId": "u1", "event": "Signed Up"},
        "page": {"userId": "u1"},
        "screen": {"userId": "u1"},
        "group": {"userId": "u1", "groupId": "g1"},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    event = one({**minimal[call_type], "messageId": "m1"}, call_type)
    assert event["type"] == call_type
    assert event["messageId"] == "m1"
    assert event["userId"] == "u1"
    assert event["identifiers"] == [["user_id", "u1"]]


def test_a_track_call_keeps_its_event_name_and_properties() -> None:
    event = one(
        {
            "anonymousId": "a1",
            "event": "Order Completed",
            "messageId": "m1",
            "properties": {"total": 10.5},
        },
        "track",
    )
    assert event == {
        "type": "track",
        "messageId": "m1",
        "userId": None,
        "anonymousId": "a1",
        "event": "Order Completed",
        "name": None,
        "channel": "web",
        "ts": micros(RECEIVED),
        "receivedAt": micros(RECEIVED),
        "properties": {"total": 10.5},
        "context": {},
        "traits": None,
        "identifiers": [["anonymous_id", "a1"]],
    }


@pytest.mark.parametrize("event_name", [None, "", "   ", 7])
def test_a_track_call_needs_an_event_name(event_name: Any) -> None:
    error = rejected({"userId": "u1", "event": event_name}, "track")
    assert (error.status, error.code) == (400, "invalid_event")
    assert error.items == [
        {"index": None, "field": "event", "message": "a track call needs an event name"}
    ]


def test_a_track_event_name_over_200_characters_is_refused() -> None:
    error = rejected({"userId": "u1", "event": "x" * 201}, "track")
    assert error.items == [
        {"index": None, "field": "event", "message": "event name is longer than 200 characters"}
    ]


def test_an_alias_call_needs_a_previous_id() -> None:
    error = rejected({"userId": "u1"}, "alias")
    assert error.items == [
        {"index": None, "field": "previousId", "message": "an alias call needs a previousId"}
    ]


def test_an_alias_call_needs_a_user_id_even_with_an_anonymous_id() -> None:
    error = rejected({"anonymousId": "a1", "previousId": "a0"}, "alias")
    assert error.items == [
        {"index": None, "field": "userId", "message": "an alias call needs a userId"}
    ]


def test_an_alias_call_keeps_the_previous_id() -> None:
    event = one({"userId": "u1", "previousId": " a1 ", "messageId": "m1"}, "alias")
    assert event["previousId"] == "a1"
    assert event["identifiers"] == [["user_id", "u1"]]


def test_a_group_call_needs_a_group_id() -> None:
    error = rejected({"userId": "u1", "traits": {"name": "ACME"}}, "group")
    assert error.items == [
        {"index": None, "field": "groupId", "message": "a group call needs a groupId"}
    ]


def test_a_group_call_keeps_the_group_and_its_traits_in_properties() -> None:
    event = one(
        {"userId": "u1", "groupId": 42, "traits": {"name": "ACME"}, "messageId": "m1"}, "group"
    )
    assert event["properties"] == {"groupId": "42", "traits": {"name": "ACME"}}
    assert event["traits"] is None


def test_page_and_screen_keep_name_and_category() -> None:
    page = one(
        {"userId": "u1", "name": "Home", "category": "Docs", "properties": {"path": "/"}}, "page"
    )
    assert (page["name"], page["properties"]) == ("Home", {"category": "Docs", "path": "/"})
    error = rejected({"userId": "u1", "name": ["Home"]}, "screen")
    assert error.items == [{"index": None, "field": "name", "message": "name must be a string"}]


def test_an_event_without_user_id_or_anonymous_id_names_user_id_and_its_index() -> None:
    error = rejected(
        {
            "batch": [
                {"type": "track", "userId": "u1", "event": "A"},
                {"type": "track", "event": "B"},
                {"type": "track", "userId": "   ", "anonymousId": "", "event": "C"},
            ]
        }
    )
    assert (error.status, error.code, error.message) == (400, "invalid_event", "2 invalid events")
    assert error.items == [
        {"index": 1, "field": "userId", "message": "an event needs a userId or an anonymousId"},
        {"index": 2, "field": "userId", "message": "an event needs a userId or an anonymousId"},
    ]


def test_a_single_call_without_any_id_is_refused_without_an_index() -> None:
    error = rejected({"event": "A"}, "track")
    assert (error.status, error.message) == (400, "1 invalid event")
    assert error.items == [
        {"index": None, "field": "userId", "message": "an event needs a userId or an anonymousId"}
    ]


@pytest.mark.parametrize("user_id", [["u1"], {"id": "u1"}, True])
def test_a_user_id_must_be_a_scalar(user_id: Any) -> None:
    error = rejected({"userId": user_id}, "identify")
    assert error.items == [{"index": None, "field": "userId", "message": "userId must be a string"}]


def test_numeric_ids_become_strings() -> None:
    event = one({"userId": 123, "anonymousId": 4.5}, "identify")
    assert (event["userId"], event["anonymousId"]) == ("123", "4.5")
    assert event["identifiers"] == [["user_id", "123"], ["anonymous_id", "4.5"]]


def test_an_unknown_type_in_a_batch_is_refused_naming_type() -> None:
    error = rejected({"batch": [{"type": "purchase", "userId": "u1"}, {"userId": "u2"}]})
    expected = "type must be one of identify, track, page, screen, group, alias"
    assert error.items == [
        {"index": 0, "field": "type", "message": f"{expected}; got 'purchase'"},
        {"index": 1, "field": "type", "message": f"{expected}; got None"},
    ]


def test_a_batch_item_that_is_not_an_object_is_refused_naming_its_index() -> None:
    error = rejected({"batch": [{"type": "identify", "userId": "u1"}, "nope"]})
    assert error.items == [{"index": 1, "field": None, "message": "an event must be a JSON object"}]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({}, "invalid_batch", "batch"),
        ({"batch": {"type": "track"}}, "invalid_batch", "batch"),
        ({"batch": []}, "empty_batch", "batch"),
        ({"batch": [{"type": "identify", "userId": "u"}], "writeKey": 5}, "invalid_event", None),
    ],
)
def test_malformed_batches_are_refused(payload: Any, code: str, field: str | None) -> None:
    error = rejected(payload)
    assert (error.status, error.code) == (400, code)
    assert [item["field"] for item in error.items] == [field or "writeKey"]


def test_a_body_that_is_not_an_object_is_refused() -> None:
    error = rejected([{"type": "identify", "userId": "u1"}])
    assert (error.status, error.code, error.items) == (400, "invalid_body", [])


def test_the_write_key_in_the_body_is_returned() -> None:
    parsed = parse({"writeKey": "wk", "userId": "u1"}, "identify")
    assert parsed.write_key == "wk"


@pytest.mark.parametrize(
    ("message_id", "expected"), [(17, "17"), ("  m 1 ", "  m 1 "), ("x" * 100, "x" * 100)]
)
def test_message_ids_are_kept_as_strings(message_id: Any, expected: str) -> None:
    assert one({"userId": "u1", "messageId": message_id}, "identify")["messageId"] == expected


def test_a_missing_message_id_gets_a_fresh_uuid() -> None:
    first = one({"userId": "u1"}, "identify")["messageId"]
    second = one({"userId": "u1"}, "identify")["messageId"]
    assert str(uuid.UUID(first)) == first
    assert first != second


@pytest.mark.parametrize("message_id", ["", "x" * 101, True, ["m"]])
def test_a_bad_message_id_is_refused(message_id: Any) -> None:
    error = rejected({"userId": "u1", "messageId": message_id}, "identify")
    assert [(i["index"], i["field"]) for i in error.items] == [(None, "messageId")]


@pytest.mark.parametrize("key", ["context", "properties", "traits"])
def test_objects_must_be_objects(key: str) -> None:
    error = rejected({"userId": "u1", key: "nope"}, "identify")
    assert error.items == [{"index": None, "field": key, "message": f"{key} must be an object"}]


# -- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["timestamp", "originalTimestamp", "sentAt"])
def test_a_bad_timestamp_names_its_field(key: str) -> None:
    error = rejected({"batch": [{"type": "identify", "userId": "u1", key: "yesterday"}]})
    assert error.items == [
        {
            "index": 0,
            "field": key,
            "message": f"{key} is not an ISO-8601 timestamp: 'yesterday'",
        }
    ]


def test_a_timestamp_that_is_not_a_string_names_its_field() -> None:
    error = rejected({"userId": "u1", "timestamp": 1714564800}, "identify")
    assert error.items == [
        {"index": None, "field": "timestamp", "message": "timestamp must be an ISO-8601 string"}
    ]


def test_skew_is_corrected_from_sent_at_with_exact_microseconds() -> None:
    # 6.876545 s passed on the client between the call and the send.
    event = one(
        {
            "userId": "u1",
            "originalTimestamp": "2024-05-01T11:59:58.123456Z",
            "sentAt": "2024-05-01T12:00:05.000001Z",
        },
        "identify",
    )
    expected = datetime(2024, 5, 1, 11, 59, 53, 623_455, tzinfo=UTC)
    assert event["ts"] == micros(expected)
    assert event["ts"] == micros(RECEIVED) - 6_876_545
    assert event["receivedAt"] == micros(RECEIVED)


def test_the_batch_sent_at_corrects_every_item() -> None:
    parsed = parse(
        {
            "sentAt": "2030-01-01T00:00:10+00:00",
            "batch": [
                {"type": "identify", "userId": "u1", "timestamp": "2030-01-01T00:00:07Z"},
                {
                    "type": "identify",
                    "userId": "u1",
                    "timestamp": "2030-01-01T00:00:09.999999Z",
                    "sentAt": "2030-01-01T00:00:10.000001Z",
                },
            ],
        }
    )
    assert [e["ts"] for e in parsed.events] == [micros(RECEIVED) - 3_000_000, micros(RECEIVED) - 2]


def test_without_sent_at_the_timestamp_is_taken_as_is_with_its_offset() -> None:
    event = one({"userId": "u1", "timestamp": "2024-04-30T09:15:00.000250-03:00"}, "identify")
    assert event["ts"] == micros(datetime(2024, 4, 30, 12, 15, 0, 250, tzinfo=UTC))


def test_a_naive_timestamp_is_read_as_utc() -> None:
    event = one({"userId": "u1", "timestamp": "2024-04-30T12:15:00"}, "identify")
    assert event["ts"] == micros(datetime(2024, 4, 30, 12, 15, tzinfo=UTC))


def test_without_any_timestamp_the_event_happened_when_received() -> None:
    event = one({"userId": "u1", "sentAt": "2024-05-01T12:00:00Z"}, "identify")
    assert event["ts"] == micros(RECEIVED)


def test_original_timestamp_wins_over_timestamp() -> None:
    event = one(
        {
            "userId": "u1",
            "originalTimestamp": "2024-05-01T10:00:00Z",
            "timestamp": "2024-05-01T11:00:00Z",
        },
        "identify",
    )
    assert event["ts"] == micros(datetime(2024, 5, 1, 10, tzinfo=UTC))


# -- context and channel ----------------------------------------------------------------


def test_the_batch_context_is_merged_into_each_item_and_the_item_wins() -> None:
    parsed = parse(
        {
            "context": {"library": {"name": "sdk"}, "ip": "10.0.0.1", "channel": "app"},
            "batch": [
                {"type": "track", "userId": "u1", "event": "A"},
                {"type": "track", "userId": "u1", "event": "B", "context": {"ip": "10.0.0.2"}},
            ],
        }
    )
    assert [e["context"] for e in parsed.events] == [
        {"library": {"name": "sdk"}, "ip": "10.0.0.1", "channel": "app"},
        {"library": {"name": "sdk"}, "ip": "10.0.0.2", "channel": "app"},
    ]
    assert [e["channel"] for e in parsed.events] == ["app", "app"]


def test_the_context_channel_overrides_the_source_default() -> None:
    assert one({"userId": "u1", "context": {"channel": "store"}}, "identify")["channel"] == "store"
    assert one({"userId": "u1"}, "identify")["channel"] == "web"
    assert parse({"userId": "u1"}, "identify", default_channel=None).events[0]["channel"] == "other"


@pytest.mark.parametrize("channel", ["Web", "call-center", "", 3, "9lives"])
def test_a_bad_channel_is_refused(channel: Any) -> None:
    error = rejected({"userId": "u1", "context": {"channel": channel}}, "identify")
    assert [(i["index"], i["field"]) for i in error.items] == [(None, "context.channel")]


# -- identifiers ------------------------------------------------------------------------


def test_emails_are_lower_cased_and_trimmed_and_the_trait_is_kept_as_sent() -> None:
    event = one({"userId": "u1", "traits": {"email": "  Ana.Silva@Example.COM "}}, "identify")
    assert event["identifiers"] == [["user_id", "u1"], ["email", "ana.silva@example.com"]]
    assert event["traits"] == {"email": "  Ana.Silva@Example.COM "}


@pytest.mark.parametrize("phone", ["+55 11 91234-5678", "(11) 91234-5678", "5511912345678"])
def test_phones_become_e164_in_the_default_region(phone: str) -> None:
    event = one({"anonymousId": "a1", "traits": {"phone": phone}}, "identify")
    assert event["identifiers"] == [["anonymous_id", "a1"], ["phone", "+5511912345678"]]


def test_an_invalid_email_is_a_warning_and_not_an_identifier() -> None:
    parsed = parse(
        {
            "batch": [
                {"type": "identify", "userId": "u1"},
                {"type": "identify", "userId": "u2", "traits": {"email": "ana-at-example"}},
            ]
        }
    )
    assert parsed.warnings == [
        {
            "index": 1,
            "field": "traits.email",
            "code": "invalid_email",
            "message": "'ana-at-example' is not an email address; "
            "it was kept as a trait but not linked",
        }
    ]
    assert parsed.events[1]["identifiers"] == [["user_id", "u2"]]
    assert parsed.events[1]["traits"] == {"email": "ana-at-example"}


def test_an_invalid_phone_in_context_traits_is_a_warning_and_not_an_identifier() -> None:
    parsed = parse(
        {"userId": "u1", "event": "Called", "context": {"traits": {"phone": "12345"}}}, "track"
    )
    assert [(w["index"], w["field"], w["code"]) for w in parsed.warnings] == [
        (None, "context.traits.phone", "invalid_phone")
    ]
    assert parsed.events[0]["identifiers"] == [["user_id", "u1"]]
    assert parsed.events[0]["traits"] == {"phone": "12345"}


def test_context_traits_are_person_traits_under_the_call_traits() -> None:
    event = one(
        {
            "userId": "u1",
            "traits": {"name": "Ana", "email": "ana@example.com"},
            "context": {"traits": {"name": "Old", "plan": "gold"}},
        },
        "identify",
    )
    assert event["traits"] == {"name": "Ana", "plan": "gold", "email": "ana@example.com"}


def test_track_traits_are_not_person_traits() -> None:
    event = one({"userId": "u1", "event": "A", "traits": {"email": "ana@example.com"}}, "track")
    assert (event["traits"], event["identifiers"]) == (None, [["user_id", "u1"]])


def test_context_traits_must_be_an_object() -> None:
    error = rejected({"userId": "u1", "context": {"traits": ["x"]}}, "identify")
    assert error.items == [
        {"index": None, "field": "context.traits", "message": "context.traits must be an object"}
    ]


def test_loyalty_ids_external_ids_and_device_ids_are_identifiers() -> None:
    event = one(
        {
            "anonymousId": "a1",
            "traits": {"loyaltyId": " L-9 ", "email": "ANA@example.com"},
            "context": {
                "externalIds": [
                    {"type": "email", "id": "ana@example.com", "collection": "users"},
                    {"type": "crm_id", "id": "c-1"},
                    {"type": "phone", "id": "(11) 91234-5678"},
                ],
                "device": {"id": "dev-1"},
            },
        },
        "identify",
    )
    assert event["identifiers"] == [
        ["anonymous_id", "a1"],
        ["loyalty_id", "L-9"],
        ["email", "ana@example.com"],
        ["phone", "+5511912345678"],
        ["device_id", "dev-1"],
    ]


# -- bodies and limits ------------------------------------------------------------------


def test_decode_body_reads_json() -> None:
    assert decode_body(b' {"userId": "u1"} ', None, LIMITS) == {"userId": "u1"}


def test_decode_body_does_not_care_what_content_type_the_bytes_had() -> None:
    # text/plain (navigator.sendBeacon) bodies reach decode_body as the same bytes.
    raw = orjson.dumps({"userId": "u1", "event": "A"})
    assert decode_body(raw, "identity", LIMITS) == decode_body(raw, None, LIMITS)


def test_decode_body_inflates_gzip() -> None:
    body = gzip.compress(orjson.dumps({"batch": [{"type": "identify", "userId": "u1"}]}))
    assert decode_body(body, " GZIP ", LIMITS) == {"batch": [{"type": "identify", "userId": "u1"}]}


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(b'{"userId": "u1"}')[:-6],
        b"\x1f\x8b\x08\x00" + b"\x00" * 20,
    ],
    ids=["garbage", "truncated", "bad-deflate"],
)
def test_corrupt_gzip_is_refused(body: bytes) -> None:
    with pytest.raises(IngestRejected) as caught:
        decode_body(body, "gzip", LIMITS)
    assert (caught.value.status, caught.value.code) == (400, "malformed_gzip")


def test_an_unsupported_encoding_is_refused() -> None:
    with pytest.raises(IngestRejected) as caught:
        decode_body(b"{}", "br", LIMITS)
    assert (caught.value.status, caught.value.code) == (400, "unsupported_encoding")


@pytest.mark.parametrize("body", [b"{", b"{'userId': 1}", b"\xff\xfe", b"[1,]"])
def test_malformed_json_is_refused(body: bytes) -> None:
    with pytest.raises(IngestRejected) as caught:
        decode_body(body, None, LIMITS)
    assert (caught.value.status, caught.value.code) == (400, "malformed_json")
    assert caught.value.message.startswith("the body is not valid JSON: ")


@pytest.mark.parametrize("body", [b"", b"  \n "])
def test_an_empty_body_is_refused(body: bytes) -> None:
    with pytest.raises(IngestRejected) as caught:
        decode_body(body, None, LIMITS)
    assert (caught.value.status, caught.value.code) == (400, "empty_body")


def test_a_body_over_500_kb_is_refused() -> None:
    body = orjson.dumps({"batch": [], "pad": "x" * (500 * 1024)})
    with pytest.raises(IngestRejected) as caught:
        decode_body(body, None, LIMITS)
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    assert caught.value.message == "the body is over 512000 bytes"


def test_a_gzip_body_over_500_kb_unpacked_is_refused() -> None:
    body = gzip.compress(orjson.dumps({"batch": [], "pad": "x" * (500 * 1024)}))
    assert len(body) < 10_000
    with pytest.raises(IngestRejected) as caught:
        decode_body(body, "gzip", LIMITS)
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    assert caught.value.message == "the body is over 512000 bytes unpacked"


def test_a_body_of_exactly_the_limit_is_taken() -> None:
    limits = IngestLimits(max_event_bytes=100, max_body_bytes=64)
    body = orjson.dumps({"pad": "x" * 54})
    assert len(body) == 64
    assert decode_body(body, None, limits) == {"pad": "x" * 54}


def test_a_batch_item_over_32_kb_is_refused_naming_its_index() -> None:
    big = {"type": "track", "userId": "u1", "event": "A", "properties": {"pad": "x" * 33_000}}
    error = rejected(
        {"batch": [{"type": "identify", "userId": "u1"}, big, {"type": "identify"}, big]}
    )
    assert (error.status, error.code) == (413, "event_too_large")
    assert error.items == [
        {"index": 1, "field": None, "message": "event is over 32768 bytes"},
        {"index": 3, "field": None, "message": "event is over 32768 bytes"},
    ]


def test_a_single_call_over_32_kb_is_refused() -> None:
    error = rejected({"userId": "u1", "event": "A", "properties": {"pad": "x" * 33_000}}, "track")
    assert (error.status, error.code) == (413, "event_too_large")
    assert error.items == [{"index": None, "field": None, "message": "event is over 32768 bytes"}]


def test_an_item_of_exactly_the_event_limit_is_taken() -> None:
    item = {"type": "identify", "userId": "u1", "traits": {"pad": ""}}
    size = len(orjson.dumps(item))
    item["traits"] = {"pad": "x" * (1024 - size)}
    assert len(orjson.dumps(item)) == 1024
    parsed = parse({"batch": [item]}, limits=IngestLimits(max_event_bytes=1024))
    assert len(parsed.events) == 1


def test_received_at_is_the_given_moment_in_microseconds() -> None:
    later = RECEIVED + timedelta(microseconds=1)
    parsed = parse_call(
        {"userId": "u1"},
        "identify",
        received_at=later,
        default_channel="web",
        limits=LIMITS,
        identity=IDENTITY,
    )
    assert parsed.events[0]["receivedAt"] == micros(RECEIVED) + 1
