"""Provider settings and a fake provider: an httpx.MockTransport that records each request and
answers from a table of canned responses."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from omnicx.channels.providers import http_client

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-7c1f"
OTHER_SID = "AC" + "2" * 32
OTHER_TOKEN = "other-auth-token-9d2e"
SHOP_NUMBER = "+5511930001000"
OUTLET_NUMBER = "+5521930002000"
APP_SECRET = "meta-app-secret-41b7"
VERIFY_TOKEN = "verify-me-8812"
WA_NUMBER_ID = "106540352242922"
WA_TOKEN = "EAAG-wa-token"
BOT_TOKEN = "123456:ABC-bot-token"
BOT_SECRET = "tg-secret_0123-abc"
PUBLIC = "https://cx.shop.example"


def provider_settings() -> dict[str, Any]:
    return {
        "public_base_url": PUBLIC,
        "twilio_accounts": {
            "main": {
                "account_sid": TWILIO_SID,
                "auth_token": TWILIO_TOKEN,
                "numbers": [SHOP_NUMBER],
            },
            "outlet": {
                "account_sid": OTHER_SID,
                "auth_token": OTHER_TOKEN,
                "numbers": [OUTLET_NUMBER],
            },
        },
        "twilio_api_base_url": "https://twilio.test",
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_numbers": {
            "shop": {
                "phone_number_id": WA_NUMBER_ID,
                "access_token": WA_TOKEN,
                "display_phone_number": "5511930003000",
            }
        },
        "whatsapp_api_base_url": "https://graph.test",
        "whatsapp_api_version": "v21.0",
        "telegram_bots": {"shopbot": {"token": BOT_TOKEN, "secret_token": BOT_SECRET}},
        "telegram_api_base_url": "https://telegram.test",
        "provider_media_max_bytes": 1024,
    }


Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeProvider:
    """Answers `answers[(method, url without query)]`; anything else is a 404. Every request
    is kept in `requests`, its body read."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        url = str(request.url.copy_with(query=None))
        answer = self.answers.get((request.method, url))
        if answer is None:
            return httpx.Response(404, json={"error": {"message": "no such fake route"}})
        return answer(request) if callable(answer) else answer

    def client(self) -> httpx.Client:
        return http_client(5.0, httpx.MockTransport(self.handle))


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()
