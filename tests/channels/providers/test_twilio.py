"""Twilio SMS: signatures by the `twilio` package, inbound parsing with media, status
callbacks, and the Messages API request the sender makes."""

import base64
import hmac
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.channels.twilio import FormParams, TwilioSms
from omnicx.config import Settings
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    Template,
)
from omnicx.kernel import Invalid
from tests.channels.providers.conftest import (
    OTHER_SID,
    OTHER_TOKEN,
    OUTLET_NUMBER,
    PUBLIC,
    SHOP_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeProvider,
    provider_settings,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = PUBLIC + "/webhooks/twilio/sms"
MESSAGES = f"https://twilio.test/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def twilio(tmp_path: Path, provider: FakeProvider, **overrides: object) -> TwilioSms:
    settings = Settings(data_dir=tmp_path, **{**provider_settings(), **overrides})
    return TwilioSms(settings, provider.client())


def form(**values: str) -> FormParams:
    return FormParams.parse(urlencode(values).encode())


def inbound_form(**extra: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": TWILIO_SID,
        "From": "+5511988887777",
        "To": SHOP_NUMBER,
        "Body": "Meu pedido chegou?",
        "NumMedia": "0",
        **extra,
    }


def test_a_request_signed_by_an_accounts_token_names_that_account(
    tmp_path: Path, provider: FakeProvider
) -> None:
    sms = twilio(tmp_path, provider)
    values = inbound_form()
    main = RequestValidator(TWILIO_TOKEN).compute_signature(URL, values)
    outlet = RequestValidator(OTHER_TOKEN).compute_signature(URL, values)

    assert sms.verify(URL, form(**values), main) == "main"
    assert sms.verify(URL, form(**values), outlet) == "outlet"


def test_a_wrong_signature_url_or_body_is_refused(tmp_path: Path, provider: FakeProvider) -> None:
    sms = twilio(tmp_path, provider)
    values = inbound_form()
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(URL, values)

    assert sms.verify(URL, form(**values), None) is None
    assert sms.verify(URL, form(**values), "") is None
    assert sms.verify(URL, form(**values), signature[:-2] + "AA") is None
    assert sms.verify("https://evil.example/webhooks/twilio/sms", form(**values), signature) is None
    assert sms.verify(URL, form(**{**values, "Body": "changed"}), signature) is None
    forged = RequestValidator("not-our-token").compute_signature(URL, values)
    assert sms.verify(URL, form(**values), forged) is None


def test_repeated_parameters_are_all_signed(tmp_path: Path, provider: FakeProvider) -> None:
    sms = twilio(tmp_path, provider)
    body = b"MessageSid=SM1&Tag=b&Tag=a"
    params = FormParams.parse(body)
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        URL, {"MessageSid": "SM1", "Tag": "a"}
    )
    full = base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), (URL + "MessageSidSM1TagaTagb").encode(), "sha1").digest()
    ).decode()

    assert params.getlist("Tag") == ["b", "a"]
    assert sms.verify(URL, params, signature) is None
    assert sms.verify(URL, params, full) == "main"


def test_a_body_that_is_not_a_form_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        FormParams.parse(b"\xff\xfe")
    assert (caught.value.code, caught.value.field) == ("malformed_body", "body")
    with pytest.raises(Invalid):
        FormParams.parse(b"no-equals-sign")
    assert list(FormParams.parse(b"")) == []


def test_an_inbound_sms_becomes_an_inbound_message(tmp_path: Path, provider: FakeProvider) -> None:
    sms = twilio(tmp_path, provider)
    message = sms.inbound("main", form(**inbound_form(FromCity="SAO PAULO")), NOW)

    assert message.channel == "sms"
    assert message.account == SHOP_NUMBER
    assert message.sender == (("phone", "+5511988887777"),)
    assert message.provider_message_id == "SM" + "a" * 32
    assert message.text == "Meu pedido chegou?"
    assert message.received_at == NOW
    assert message.attachments == ()
    assert message.warnings == ()
    assert message.metadata == {"twilio_account": "main", "FromCity": "SAO PAULO"}
    assert provider.requests == []


def test_mms_media_is_fetched_with_the_account_credentials(
    tmp_path: Path, provider: FakeProvider
) -> None:
    media = f"https://twilio.test/2010-04-01/Accounts/{TWILIO_SID}/Messages/SMa/Media/ME1"
    stored = "https://media.test/ME1.jpg"
    provider.answers[("GET", media)] = httpx.Response(302, headers={"location": stored})
    provider.answers[("GET", stored)] = httpx.Response(
        200, content=b"\xff\xd8jpeg", headers={"content-type": "image/jpeg"}
    )
    big = "https://twilio.test/big"
    provider.answers[("GET", big)] = httpx.Response(200, content=b"x" * 2000)
    sms = twilio(tmp_path, provider)
    values = inbound_form(
        Body="",
        NumMedia="3",
        MediaUrl0=media,
        MediaContentType0="image/jpeg",
        MediaUrl1="https://twilio.test/gone",
        MediaContentType1="application/pdf",
        MediaUrl2=big,
        MediaContentType2="video/mp4",
    )

    message = sms.inbound("main", form(**values), NOW)

    assert message.text is None
    assert message.attachments == (AttachmentIn("media-0.jpg", "image/jpeg", b"\xff\xd8jpeg"),)
    assert message.warnings == (
        "media media-1.pdf not fetched: HTTP 404",
        "media media-2.mp4 is over 1024 bytes; kept as a link",
    )
    assert message.metadata["media_links"] == ["https://twilio.test/gone", big]
    first = provider.requests[0]
    expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert first.headers["authorization"] == f"Basic {expected}"
    # The redirect leaves Twilio: the credentials stay behind.
    assert str(provider.requests[1].url) == stored
    assert "authorization" not in provider.requests[1].headers


def test_bad_inbound_forms_are_refused(tmp_path: Path, provider: FakeProvider) -> None:
    sms = twilio(tmp_path, provider)
    cases = [
        ({"From": ""}, "missing_field", "From"),
        ({"From": "whatsapp:+5511988887777"}, "unsupported_channel", "From"),
        ({"NumMedia": "eleven"}, "invalid_num_media", "NumMedia"),
        ({"MessageSid": ""}, "missing_field", "MessageSid"),
    ]
    for change, code, field in cases:
        with pytest.raises(Invalid) as caught:
            sms.inbound("main", form(**inbound_form(**change)), NOW)
        assert (caught.value.code, caught.value.field) == (code, field)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("queued", "queued"),
        ("accepted", "queued"),
        ("sending", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("undelivered", "undelivered"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_status_callbacks_map_to_delivery_statuses(
    tmp_path: Path, provider: FakeProvider, raw: str, status: str
) -> None:
    sms = twilio(tmp_path, provider)
    update = sms.delivery(form(MessageSid="SM9", MessageStatus=raw), NOW)
    assert update == DeliveryUpdate("sms", "SM9", status, NOW, None)  # type: ignore[arg-type]


def test_a_failed_status_carries_the_error_and_inbound_statuses_are_skipped(
    tmp_path: Path, provider: FakeProvider
) -> None:
    sms = twilio(tmp_path, provider)
    failed = form(MessageSid="SM9", MessageStatus="undelivered", ErrorCode="30003")
    assert sms.delivery(failed, NOW) == DeliveryUpdate(
        "sms", "SM9", "undelivered", NOW, "Twilio error 30003"
    )
    assert sms.delivery(form(MessageSid="SM9", MessageStatus="received"), NOW) is None
    with pytest.raises(Invalid) as caught:
        sms.delivery(form(MessageSid="SM9", MessageStatus="teleported"), NOW)
    assert caught.value.code == "unknown_status"


def context(**changes: object) -> SendContext:
    values: dict[str, object] = {
        "customer_id": "c1",
        "conversation_id": "v1",
        "channel": "sms",
        "account": SHOP_NUMBER,
        "to": ("phone", "+5511988887777"),
        "now": NOW,
        "last_inbound_at": None,
        **changes,
    }
    return SendContext(**values)  # type: ignore[arg-type]


def test_can_send_needs_a_phone_no_attachments_and_a_number(
    tmp_path: Path, provider: FakeProvider
) -> None:
    sms = twilio(tmp_path, provider)
    assert sms.can_send(context()) is None
    assert sms.can_send(context(account=None, template=Template("x", "pt_BR"))) is None
    assert sms.can_send(context(to=("email", "a@b.example"))) == "SMS needs a phone number"
    assert sms.can_send(context(has_attachments=True)) == "SMS cannot carry attachments"
    unconfigured = twilio(tmp_path, provider, twilio_accounts={})
    assert unconfigured.can_send(context()) == "no Twilio number is configured to send SMS from"


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": "m1",
        "conversation_id": "v1",
        "channel": "sms",
        "account": SHOP_NUMBER,
        "to": ("phone", "+5511988887777"),
        "text": "Chegou sim! Retire na loja.",
        **changes,
    }
    return OutboundMessage(**values)  # type: ignore[arg-type]


def test_send_posts_to_the_messages_api_of_the_number_s_account(
    tmp_path: Path, provider: FakeProvider
) -> None:
    outlet = f"https://twilio.test/2010-04-01/Accounts/{OTHER_SID}/Messages.json"
    provider.answers[("POST", outlet)] = httpx.Response(
        201, json={"sid": "SM" + "b" * 32, "status": "queued"}
    )
    sms = twilio(tmp_path, provider)

    result = sms.send(outbound(account=OUTLET_NUMBER))

    assert result == SendResult("SM" + "b" * 32, "sent")
    (request,) = provider.requests
    assert request.method == "POST"
    assert str(request.url) == outlet
    expected = base64.b64encode(f"{OTHER_SID}:{OTHER_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.content.decode())) == {
        "To": "+5511988887777",
        "Body": "Chegou sim! Retire na loja.",
        "From": OUTLET_NUMBER,
        "StatusCallback": PUBLIC + "/webhooks/twilio/status",
    }


def test_send_from_an_unknown_account_uses_the_first_number(
    tmp_path: Path, provider: FakeProvider
) -> None:
    provider.answers[("POST", MESSAGES)] = httpx.Response(
        201, json={"sid": "SM1", "status": "sent"}
    )
    sms = twilio(tmp_path, provider, public_base_url=None)

    assert sms.send(outbound(account=None)) == SendResult("SM1", "sent")
    assert dict(parse_qsl(provider.requests[0].content.decode())) == {
        "To": "+5511988887777",
        "Body": "Chegou sim! Retire na loja.",
        "From": SHOP_NUMBER,
    }


@pytest.mark.parametrize(
    ("answer", "retry", "message"),
    [
        (
            httpx.Response(400, json={"code": 21211, "message": "The 'To' number is not valid."}),
            False,
            "Twilio answered 400: The 'To' number is not valid. (code 21211)",
        ),
        (
            httpx.Response(429, json={"code": 20429, "message": "Too Many Requests"}),
            True,
            "Twilio answered 429: Too Many Requests (code 20429)",
        ),
        (httpx.Response(503, text="down"), True, "Twilio answered 503: down"),
        (
            httpx.Response(401, json={"code": 20003, "message": "Authenticate"}),
            True,
            "Twilio answered 401: Authenticate (code 20003)",
        ),
    ],
)
def test_provider_errors_are_retryable_or_permanent(
    tmp_path: Path, provider: FakeProvider, answer: httpx.Response, retry: bool, message: str
) -> None:
    provider.answers[("POST", MESSAGES)] = answer
    with pytest.raises(SendFailed) as caught:
        twilio(tmp_path, provider).send(outbound())
    assert (str(caught.value), caught.value.retry) == (message, retry)


def test_a_network_failure_is_retryable(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    settings = Settings(data_dir=tmp_path, **provider_settings())
    sms = TwilioSms(settings, httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(SendFailed) as caught:
        sms.send(outbound())
    assert caught.value.retry is True
    assert str(caught.value) == "Twilio did not answer: ConnectError: connection refused"


def test_messages_sms_cannot_carry_fail_for_good_without_a_request(
    tmp_path: Path, provider: FakeProvider
) -> None:
    sms = twilio(tmp_path, provider)
    cases = [
        (outbound(text="  "), "an SMS needs text"),
        (outbound(text="x" * 1601), "an SMS is at most 1600 characters"),
        (outbound(to=("email", "a@b.example")), "SMS cannot reach a email"),
        (
            outbound(attachments=(AttachmentIn("a.pdf", "application/pdf", b"%PDF"),)),
            "SMS cannot carry attachments",
        ),
    ]
    for message, reason in cases:
        with pytest.raises(SendFailed) as caught:
            sms.send(message)
        assert (str(caught.value), caught.value.retry) == (reason, False)
    assert provider.requests == []
