"""A fake channel sender for tests: records what it sends, refuses when told to."""

from dataclasses import dataclass, field

from omnicx.conversations.model import DeliveryState
from omnicx.conversations.ports import OutboundMessage, SendContext, SendFailed, SendResult


@dataclass
class FakeChannelSender:
    """Records every send in `sent`; `refuse` is the `can_send` answer (None allows);
    `fail` makes `send` raise `SendFailed` with that message (and `retry`)."""

    channel: str
    refuse: str | None = None
    fail: str | None = None
    retry: bool = True
    status: DeliveryState = "sent"
    sent: list[OutboundMessage] = field(default_factory=list)
    checked: list[SendContext] = field(default_factory=list)

    def can_send(self, ctx: SendContext) -> str | None:
        self.checked.append(ctx)
        return self.refuse

    def send(self, out: OutboundMessage) -> SendResult:
        if self.fail is not None:
            raise SendFailed(self.fail, retry=self.retry)
        self.sent.append(out)
        return SendResult(f"{self.channel}-{len(self.sent)}", self.status)
