"""Events: ingestion of customer events from every channel, dedupe and the timeline."""

from omnicx.events.model import CHANNELS, EVENT_TYPES, SHORT_TYPES, Source, TimelineItem
from omnicx.events.parse import IngestLimits, IngestRejected, Parsed, decode_body, parse_call
from omnicx.events.ports import EventRepository, IngestQueue
from omnicx.events.services import (
    acknowledge,
    create_source,
    decode_cursor,
    encode_cursor,
    resolve_batches,
    rotate_write_key,
    timeline_page,
)

__all__ = [
    "CHANNELS",
    "EVENT_TYPES",
    "SHORT_TYPES",
    "EventRepository",
    "IngestLimits",
    "IngestQueue",
    "IngestRejected",
    "Parsed",
    "Source",
    "TimelineItem",
    "acknowledge",
    "create_source",
    "decode_body",
    "decode_cursor",
    "encode_cursor",
    "parse_call",
    "resolve_batches",
    "rotate_write_key",
    "timeline_page",
]
