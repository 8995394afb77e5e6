"""The real webhook sender, over httpx."""

import httpx


class HttpxWebhookSender:
    def __init__(self, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise OSError(str(error)) from error
        return response.status_code


class FakeWebhookSender:
    """Records what would be posted and answers with a status tests choose."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.sent.append((url, body, headers))
        return self.status
