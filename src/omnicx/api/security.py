"""HTTP-level protection: who the client is behind proxies, rate-limit answers, and the
security headers of every response.

    SecurityHeaders   every response: X-Content-Type-Options; /api: Cache-Control no-store;
                      HTML pages: CSP (inline scripts and styles allowed by their hash),
                      frame, referrer, permissions and opener policies; HSTS over https
    TrustedProxies    X-Forwarded-For / -Proto are believed only from configured proxies

CORS is answered only by the tracking endpoints (`routes/tracking.py`), which browsers reach
from the retailer's own pages; the chat widget's endpoints will join them there. `/api` sends
no CORS allowance: it is called by servers and by the console on its own origin.
"""

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.access import RateLimited
from omnicx.api.errors import CORS, error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.bootstrap import Services

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, scope: Scope) -> str:
        """The client's address: the peer, or, when the peer is a trusted proxy, the nearest
        address in X-Forwarded-For that is not one of ours."""
        peer = scope.get("client")
        address = peer[0] if peer else "unknown"
        if not self.networks or not self.trusts(address):
            return address
        forwarded = _header(scope, b"x-forwarded-for")
        if forwarded is None:
            return address
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self.trusts(hop):
                return hop
            address = hop
        return address

    def https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        peer = scope.get("client")
        if not self.networks or not peer or not self.trusts(peer[0]):
            return False
        proto = _header(scope, b"x-forwarded-proto")
        return proto is not None and proto.split(",")[0].strip().lower() == "https"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


@lru_cache(maxsize=8)
def _proxies(networks: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(networks)


def proxies(services: Services) -> TrustedProxies:
    return _proxies(tuple(services.settings.trusted_proxies))


def client_address(services: Services, scope: Scope) -> str:
    return proxies(services).client(scope)


async def throttle(services: Services, rule: str, key: str) -> None:
    """`Throttle.hit` from async code: in place for memory counters, off the event loop for
    counters across the network."""
    if services.throttle.blocking:
        await anyio.to_thread.run_sync(services.throttle.hit, rule, key)
    else:
        services.throttle.hit(rule, key)


def rate_limited(error: RateLimited, *, cors: bool = False) -> Response:
    headers = {"Retry-After": str(error.retry_after), **(CORS if cors else {})}
    return JsonResponse(
        error_body(error.code, error.message, retry_after=error.retry_after),
        status_code=429,
        headers=headers,
    )


# -- headers ------------------------------------------------------------------------------

CDN = "https://cdn.jsdelivr.net"
"""Where /docs (Swagger UI) and /redoc load their scripts and styles from."""

HTML_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.I)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.DOTALL | re.I)


INLINE_STYLES = "x-omnicx-inline-styles"
"""Set (to "allowed") by a page whose own scripts style elements inline, as plotly.js does
when it draws a chart: its policy then allows inline styles (never inline scripts). The
header itself is not sent."""


def content_security_policy(html: bytes, *, inline_styles: bool = False) -> str:
    """The policy of one page: its own origin and the CDN, plus each inline script and style
    block by its SHA-256 (so an injected one does not run). With `inline_styles`, any inline
    style is allowed (a hash would switch 'unsafe-inline' off, so none is listed)."""
    scripts = " ".join(_hashes(_INLINE_SCRIPT.findall(html)))
    styles = "'unsafe-inline'" if inline_styles else " ".join(_hashes(_INLINE_STYLE.findall(html)))
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {CDN}{' ' + scripts if scripts else ''}",
            f"style-src 'self' {CDN} https://fonts.googleapis.com{' ' + styles if styles else ''}",
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
            "font-src https://fonts.gstatic.com",
            "connect-src 'self'",
            "worker-src blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _hashes(blocks: list[bytes]) -> list[str]:
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in blocks]


class SecurityHeaders:
    """Adds the security headers; HTML bodies are held until complete to hash their inline
    blocks. Tracking paths (`/v1/`) pass untouched: they answer JSON to other origins."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        https = self.proxies.https(scope)
        api = path == "/api" or path.startswith("/api/")
        start: Message | None = None
        held: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = _Headers(message.get("headers", []))
                headers.set("x-content-type-options", "nosniff")
                if api:
                    headers.set("cache-control", "no-store")
                if https:
                    headers.set("strict-transport-security", HSTS)
                message = {**message, "headers": headers.raw}
                if headers.get("content-type", "").startswith("text/html"):
                    start = message
                    return
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                held.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(held)
                headers = _Headers(start["headers"])
                for name, value in HTML_HEADERS.items():
                    headers.set(name, value)
                inline_styles = headers.pop(INLINE_STYLES) == "allowed"
                policy = content_security_policy(body, inline_styles=inline_styles)
                headers.set("content-security-policy", policy)
                await send({**start, "headers": headers.raw})
                start = None
                await send({"type": "http.response.body", "body": body, "more_body": False})
            else:
                await send(message)

        await self.app(scope, receive, wrapped)


class _Headers:
    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.raw = [(bytes(k), bytes(v)) for k, v in raw]

    def get(self, name: str, default: str = "") -> str:
        key = name.encode()
        for k, v in self.raw:
            if k.lower() == key:
                return v.decode("latin-1")
        return default

    def pop(self, name: str) -> str:
        found = self.get(name)
        key = name.encode()
        self.raw = [(k, v) for k, v in self.raw if k.lower() != key]
        return found

    def set(self, name: str, value: str) -> None:
        key = name.encode()
        self.raw = [(k, v) for k, v in self.raw if k.lower() != key]
        self.raw.append((key, value.encode("latin-1")))


def install(app: FastAPI, services: Services) -> None:
    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, error: RateLimited) -> Response:
        return rate_limited(error)

    app.add_middleware(SecurityHeaders, proxies=proxies(services))
    _document_rate_limits(app)


def _document_rate_limits(app: FastAPI) -> None:
    """Every operation that takes credentials may answer 429 (the per-caller limit)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and operation.get("security"):
                    operation.setdefault("responses", {}).update(
                        {str(k): v for k, v in error_responses(429).items()}
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
