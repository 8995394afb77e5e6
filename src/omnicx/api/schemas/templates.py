"""Bodies and answers of the templates' preview and of email tracking's receipts. (A template's
variants are read and written through `/api/templates/{name}`, schemas in `schemas.sends`.)"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnicx.api.schemas.sends import TemplateVariantIn


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreviewIn(Strict):
    customer_id: str | None = Field(
        default=None,
        max_length=64,
        description="Render for this customer: their name, traits and language.",
    )
    channel: str | None = Field(
        default=None,
        max_length=40,
        description="Render the variant this channel would get; omitted: every variant.",
    )
    language: str | None = Field(
        default=None,
        max_length=20,
        description="The language to choose the variant by (pt-BR, es, en); omitted: the "
        "customer's, or the default.",
    )
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Values for the template's variables: event (an event's properties), "
        "journey, or the send's own names.",
    )


class UnsavedPreviewIn(PreviewIn):
    variants: list[TemplateVariantIn] = Field(min_length=1, max_length=100)


class SmsPublic(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int = Field(description="Septets (GSM-7) or UTF-16 code units (UCS-2).")
    segments: int = Field(description="SMS parts the text is billed and sent as.")
    per_segment: int = Field(description="160 or 70 for one part; 153 or 67 in a longer text.")


class ProviderTemplatePublic(BaseModel):
    name: str
    language: str
    params: list[str]


class RenderedPublic(BaseModel):
    channel: str = Field(description="The channel rendered for (the variant's, or the one asked).")
    variant_channel: str
    variant_language: str
    subject: str | None = Field(description="The email subject, or the push title.")
    text: str | None = Field(description="The text, SMS or push body.")
    html: str | None
    provider_template: ProviderTemplatePublic | None
    sms: SmsPublic | None = Field(description="For SMS: encoding and segments of the text.")


class PreviewPublic(BaseModel):
    template: str | None
    language: str
    items: list[RenderedPublic]
    uses: list[str] = Field(description="Every variable the template reads, e.g. event.total.")
    missing: list[str] = Field(
        description="Variables read that have no value in this preview: shown as "
        "`{{ name }}`; a send would render a missing trait or event property empty and refuse "
        "any other."
    )


class ReceiptPublic(BaseModel):
    id: int
    message_id: str
    channel: str
    kind: Literal["read", "clicked"]
    link: str | None = Field(description="Where a click led.")
    at: datetime


class ReceiptsPublic(BaseModel):
    send_id: str
    customer_id: str
    items: list[ReceiptPublic]
