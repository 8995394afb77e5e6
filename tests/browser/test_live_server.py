"""The live server the browser tests drive: a signed Twilio SMS and an email reach a
conversation, an agent's replies leave through the fake Twilio API and the SMTP relay (sent by
the worker thread), and a badly signed SMS is refused with nothing stored."""

from omnicx.access import principal_for_role
from omnicx.conversations import Message, Reply
from tests.browser.conftest import (
    MAILBOX,
    SHOP_NUMBER,
    LiveServer,
    MailRelay,
    TwilioApi,
    post_twilio_sms,
    send_email,
)
from tests.conftest import table_counts

AGENT = principal_for_role("user", "agent-1", "Rita", "agent")


def stored(live: LiveServer, channel: str, provider_id: str) -> Message | None:
    with live.services.uow(write=False) as uow:
        return live.services.conversations(uow).by_provider_id(channel, provider_id)


def test_a_signed_sms_is_stored_and_the_reply_reaches_twilio(
    live: LiveServer, twilio_api: TwilioApi
) -> None:
    sid = "SM" + "d" * 32
    answer = post_twilio_sms(live, sender="+55 11 98888-7777", text="Chegou?", sid=sid)

    assert answer.status_code == 200
    message = stored(live, "sms", sid)
    assert message is not None
    assert (message.direction, message.text, message.account) == ("inbound", "Chegou?", SHOP_NUMBER)

    live.services.reply(message.conversation_id, Reply(author=AGENT, channel="sms", text="Sim!"))

    [sent] = twilio_api.wait_for(1)
    assert (sent.to, sent.sender, sent.body) == ("+5511988887777", SHOP_NUMBER, "Sim!")


def test_a_badly_signed_sms_is_refused_with_nothing_stored(live: LiveServer) -> None:
    before = table_counts(live.services, "messages", "conversations", "profiles")
    sid = "SM" + "e" * 32

    answer = post_twilio_sms(live, sender="+5511977776666", text="Oi", sid=sid, token="forged")

    assert answer.status_code == 403
    assert stored(live, "sms", sid) is None
    assert table_counts(live.services, "messages", "conversations", "profiles") == before


def test_an_email_reply_goes_out_through_the_relay(live: LiveServer, mail_relay: MailRelay) -> None:
    message_id = send_email(
        live, sender="Ana Sousa <ana@example.com>", subject="Troca", text="Posso trocar?"
    )
    with live.services.uow(write=False) as uow:
        conversation = live.services.conversations(uow).by_email_ids([message_id])
    assert conversation is not None
    assert conversation.subject == "Troca"

    live.services.reply(conversation.id, Reply(author=AGENT, channel="email", text="Pode!"))

    [relayed] = mail_relay.wait_for(1)
    assert relayed.mail_from == MAILBOX
    assert relayed.rcpt_tos == ["ana@example.com"]
    assert relayed.message["Subject"] == "Re: Troca"
    assert relayed.message["In-Reply-To"] == message_id
    body = relayed.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content() == "Pode!\r\n"
