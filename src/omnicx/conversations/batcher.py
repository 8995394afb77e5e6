"""Group commit for inbound messages.

Webhooks, the SMTP listener and web chat hand each message over from their own threads; one
thread stores whatever has gathered meanwhile in a single transaction (one commit and one disk
flush for the lot, each message in its own savepoint) and hands every caller its own receipt
or error. A caller still returns only once its message is committed, so a provider's webhook
is acknowledged exactly when the message is durable. A message that arrives alone is stored
at once: batches form only while the previous one is being written.
"""

import logging
from collections.abc import Callable, Sequence

from omnicx.conversations.model import InboundMessage, Receipt
from omnicx.kernel.group_commit import GroupCommit

log = logging.getLogger("omnicx.conversations")

ReceiveMany = Callable[[Sequence[InboundMessage]], list[Receipt | Exception]]


class InboundBatcher(GroupCommit[InboundMessage, Receipt]):
    def __init__(self, receive_many: ReceiveMany, *, max_batch: int = 64) -> None:
        super().__init__(receive_many, name="omnicx-inbound", log=log, max_batch=max_batch)

    def receive(self, inbound: InboundMessage) -> Receipt:
        """Store `inbound` (with whatever else is waiting) and return its receipt, or raise
        the error that refused it."""
        return self.submit(inbound)
