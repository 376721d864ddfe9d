"""Who may write and how often (API keys, a per-client rate limit), how large a body may be, CORS.

Reads stay open. A write (POST/PUT/PATCH/DELETE) is first counted against its client's rate
limit, so guessing keys is slowed down too, then needs a key once GATEWAY_API_KEYS is set.
"""

import hmac
import math
import time
from collections.abc import Callable, Iterable

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import Settings

API_KEY_HEADER = "X-API-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Past this many clients, the buckets of those idle long enough to be full again are dropped.
_MAX_TRACKED_CLIENTS = 10_000


def add_security(app: FastAPI, settings: Settings) -> None:
    """Guard writes with the API keys and the rate limit, bound bodies, answer CORS checks."""
    rate = settings.gateway_write_rate_per_minute
    max_body_bytes = settings.gateway_max_body_bytes
    app.add_middleware(
        WriteGuard,
        api_keys=ApiKeys(key.get_secret_value() for key in settings.gateway_api_keys),
        rate_limit=RateLimit(per_minute=rate, burst=settings.gateway_write_burst) if rate else None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if settings.gateway_cors_origins:
        # Added last, so outermost: preflights never meet the guard, and its refusals carry the
        # CORS headers a page needs to read them.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.gateway_cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "Authorization", API_KEY_HEADER],
            expose_headers=["Retry-After"],
        )

    async def body_too_large(_request: Request, _exc: Exception) -> JSONResponse:
        return _too_large(max_body_bytes)

    app.add_exception_handler(status.HTTP_413_CONTENT_TOO_LARGE, body_too_large)


class ApiKeys:
    """The keys that may write; with none configured, every write is let in."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys]

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def index_of(self, presented: bytes | None) -> int | None:
        """Which configured key was presented, or None; every key is compared, in constant time."""
        if presented is None:
            return None
        matches = [hmac.compare_digest(presented, key) for key in self._keys]
        return matches.index(True) if any(matches) else None


class RateLimit:
    """A token bucket per client: `burst` writes at once, refilled at `per_minute`."""

    def __init__(
        self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_minute / 60
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)

    def wait_s(self, client: str) -> float:
        """0 when the client may write now (and the write is counted), else seconds to wait."""
        now = self.clock()
        tokens, counted_at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - counted_at) * self.per_second)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.per_second
        if client not in self._buckets and len(self._buckets) >= _MAX_TRACKED_CLIENTS:
            self._forget_idle(now)
        self._buckets[client] = (tokens - 1, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        full_after_s = self.burst / self.per_second
        self._buckets = {
            client: bucket
            for client, bucket in self._buckets.items()
            if now - bucket[1] < full_after_s
        }


class WriteGuard:
    """ASGI middleware: 429 (with Retry-After) past a client's rate, 401 without a valid key."""

    def __init__(self, app: ASGIApp, api_keys: ApiKeys, rate_limit: RateLimit | None) -> None:
        self.app = app
        self.api_keys = api_keys
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        key_index = self.api_keys.index_of(_presented_key(scope))
        refusal = self._rate_refusal(scope, key_index) or self._key_refusal(key_index)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _rate_refusal(self, scope: Scope, key_index: int | None) -> JSONResponse | None:
        if self.rate_limit is None:
            return None
        # Clients with a key share its bucket wherever they connect from; others go by address.
        address = scope["client"][0] if scope.get("client") else "unknown"
        client = f"key:{key_index}" if key_index is not None else f"address:{address}"
        wait_s = self.rate_limit.wait_s(client)
        if not wait_s:
            return None
        retry_after = math.ceil(wait_s)
        return JSONResponse(
            {"detail": f"Too many writes from this client; retry in {retry_after} s"},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(retry_after)},
        )

    def _key_refusal(self, key_index: int | None) -> JSONResponse | None:
        if not self.api_keys.required or key_index is not None:
            return None
        return JSONResponse(
            {
                "detail": f"Writes need an API key: send it as `{API_KEY_HEADER}: <key>` "
                "or `Authorization: Bearer <key>`"
            },
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )


def _presented_key(scope: Scope) -> bytes | None:
    headers = dict(scope["headers"])
    if key := headers.get(API_KEY_HEADER.lower().encode()):
        return key.strip()
    scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and credentials.strip():
        return credentials.strip()
    return None


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Raised inside the route's body read, so the 413 handler above answers it.
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE)
            return message

        await self.app(scope, receive_within_limit, send)


def _too_large(max_bytes: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"The request body is larger than the {max_bytes} bytes the gateway accepts"},
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
    )
