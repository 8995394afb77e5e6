"""Consent per purpose and channel, preferences and suppression: who may be contacted, for
what, on which channel, and when.

The pure API other parts call: `permission` (and `decide`, with the suppressions), the
`Preferences` and `ContactPermission` facts, quiet hours in the customer's zone, opt-out
keywords, and `unsubscribe_headers` for bulk email. Storage is reached through
`Services.consent(uow)` and `Services.may_contact(...)`.
"""

from omnicx.config import DEFAULT_OPT_OUT_KEYWORDS
from omnicx.consent.keywords import Keywords
from omnicx.consent.links import consent_key, unsubscribe_headers, unsubscribe_url
from omnicx.consent.messages import (
    ConfirmationRequested,
    ConsentChanged,
    ContactBlocks,
    blocked_channels,
)
from omnicx.consent.model import (
    ALL_CHANNELS,
    BUILTIN_PURPOSES,
    CHANNELS,
    DEFAULT_OPT_IN_KEYWORDS,
    METHODS,
    OPT_OUT_PURPOSES,
    STATES,
    SUPPRESSION_REASONS,
    ChannelLimit,
    Confirmation,
    ConsentChange,
    ConsentPolicy,
    ConsentRecord,
    ConsentSource,
    ContactPermission,
    Preferences,
    Purpose,
    Suppression,
    Wish,
    check_purposes,
    consent_channel,
    format_quiet_hours,
    parse_quiet_hours,
)
from omnicx.consent.policy import blocks, decide, permission, suppressed_by
from omnicx.consent.ports import ConsentRepository, FakeMailer, Mailer, SentMail
from omnicx.consent.quiet_hours import in_quiet_hours, quiet_hours_end
from omnicx.consent.services import Recorded

__all__ = [
    "ALL_CHANNELS",
    "BUILTIN_PURPOSES",
    "CHANNELS",
    "DEFAULT_OPT_IN_KEYWORDS",
    "DEFAULT_OPT_OUT_KEYWORDS",
    "METHODS",
    "OPT_OUT_PURPOSES",
    "STATES",
    "SUPPRESSION_REASONS",
    "ChannelLimit",
    "Confirmation",
    "ConfirmationRequested",
    "ConsentChange",
    "ConsentChanged",
    "ConsentPolicy",
    "ConsentRecord",
    "ConsentRepository",
    "ConsentSource",
    "ContactBlocks",
    "ContactPermission",
    "FakeMailer",
    "Keywords",
    "Mailer",
    "Preferences",
    "Purpose",
    "Recorded",
    "SentMail",
    "Suppression",
    "Wish",
    "blocked_channels",
    "blocks",
    "check_purposes",
    "consent_channel",
    "consent_key",
    "decide",
    "format_quiet_hours",
    "in_quiet_hours",
    "parse_quiet_hours",
    "permission",
    "quiet_hours_end",
    "suppressed_by",
    "unsubscribe_headers",
    "unsubscribe_url",
]
