"""What the messaging providers (Twilio, WhatsApp Cloud API, Telegram Bot API) share: one
HTTP client per process, how their failures are classified, and size-limited media downloads.

    provider answer                      SendFailed
    2xx                                  (none)
    network error, timeout               retry
    401, 408, 409, 425, 429, 5xx         retry (a 401 heals when the credentials are fixed)
    any other 4xx                        permanent (retry=False): a bad number, a blocked
                                         user, a template the provider refuses
"""

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from omnicx.conversations import AttachmentIn, SendFailed

log = logging.getLogger("omnicx.channels")

RETRYABLE = frozenset({401, 408, 409, 425, 429})


def http_client(timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The client every provider adapter of a process shares (connection pooling)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": "omnicx"},
    )


def call(
    client: httpx.Client, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One request to a provider; a failure becomes `SendFailed`, retryable or not."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        raise SendFailed(f"{provider} did not answer: {type(error).__name__}: {error}") from None
    if response.is_success:
        return response
    retry = response.status_code in RETRYABLE or response.status_code >= 500
    raise SendFailed(
        f"{provider} answered {response.status_code}: {_reason(response)}", retry=retry
    )


def _reason(response: httpx.Response) -> str:
    """The provider's own explanation, from the JSON error shapes of the three providers."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message") or error.get("error_user_msg") or ""
            return f"{message} (code {code})" if code is not None else str(message)
        if "description" in body:
            return str(body["description"])
        if "message" in body:
            code = body.get("code")
            return f"{body['message']} (code {code})" if code is not None else str(body["message"])
    return response.text[:300]


@dataclass(frozen=True)
class Fetched:
    """Media fetched from a provider: an attachment, or a warning saying why it is only a link."""

    attachment: AttachmentIn | None
    warning: str | None


def fetch_media(
    client: httpx.Client,
    url: str,
    *,
    filename: str,
    content_type: str | None,
    max_bytes: int,
    follow_redirects: bool = False,
    **kwargs: Any,
) -> Fetched:
    """Download one media file, streamed and capped at `max_bytes`; never raises."""
    try:
        with client.stream("GET", url, follow_redirects=follow_redirects, **kwargs) as response:
            if not response.is_success:
                return Fetched(None, f"media {filename} not fetched: HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                return Fetched(None, f"media {filename} is over {max_bytes} bytes; kept as a link")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    return Fetched(
                        None, f"media {filename} is over {max_bytes} bytes; kept as a link"
                    )
                chunks.append(chunk)
            kind = content_type or response.headers.get("content-type", "")
    except httpx.HTTPError as error:
        log.warning("media %s not fetched: %s", filename, error)
        return Fetched(None, f"media {filename} not fetched: {type(error).__name__}")
    kind = kind.split(";")[0].strip() or "application/octet-stream"
    return Fetched(AttachmentIn(filename, kind, b"".join(chunks)), None)


def extension(content_type: str) -> str:
    """A file extension for a media type, for providers that send media without a name."""
    known = {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "image/gif": ".gif",
        "image/webp": ".webp",
        "audio/ogg": ".ogg",
        "audio/mpeg": ".mp3",
        "audio/amr": ".amr",
        "audio/mp4": ".m4a",
        "video/mp4": ".mp4",
        "video/3gpp": ".3gp",
        "application/pdf": ".pdf",
        "text/plain": ".txt",
        "text/vcard": ".vcf",
    }
    return known.get(content_type.split(";")[0].strip().lower(), "")
