"""SQL storage of the channels: push registrations and the in-app inbox."""

from omnicx.channels.store.inapp import SqlInAppRepository, inapp_inboxes, inapp_messages
from omnicx.channels.store.push import SqlPushRepository, push_registrations

__all__ = [
    "SqlInAppRepository",
    "SqlPushRepository",
    "inapp_inboxes",
    "inapp_messages",
    "push_registrations",
]
