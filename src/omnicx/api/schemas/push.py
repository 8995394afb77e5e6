"""Answers and bodies of the push API: a customer's registered devices, app tokens."""

from datetime import datetime
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

from omnicx.channels.push import Registration


class PushRegistrationPublic(BaseModel):
    id: str
    kind: str = Field(description="webpush (a browser) or fcm (an app install)")
    platform: str | None = Field(description="android, ios or web, as the app said")
    address_kind: str = Field(description="What the device proved: user_id or anonymous_id")
    service: str | None = Field(description="A browser's push service host (webpush only)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, registration: Registration) -> "PushRegistrationPublic":
        service = None
        if registration.kind == "webpush":
            service = urlsplit(str(registration.target.get("endpoint", ""))).hostname
        return cls(
            id=registration.id,
            kind=registration.kind,
            platform=registration.platform,
            address_kind=registration.address_kind,
            service=service,
            created_at=registration.created_at,
            updated_at=registration.updated_at,
        )


class PushRegistrationsPublic(BaseModel):
    customer_id: str
    items: list[PushRegistrationPublic]


class AppTokenCreate(BaseModel):
    """Exactly one of `userId` (a signed-in customer) or `anonymousId`."""

    userId: str | None = Field(default=None, min_length=1, max_length=320)
    anonymousId: str | None = Field(default=None, min_length=1, max_length=320)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.userId is None) == (self.anonymousId is None):
            raise ValueError("give exactly one of userId or anonymousId")
        return self


class AppTokenPublic(BaseModel):
    token: str = Field(description="Send it as X-App-Token to /inapp and /push")
    address_kind: str
    expires_at: datetime
