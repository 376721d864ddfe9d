"""Who may write and how often (API keys, a per-client rate limit), how large a body may be, CORS.

Reads stay open. A write route (`WriteAccess`) first counts the request against its client's rate
limit, so guessing keys is slowed down too, then needs a key once GATEWAY_API_KEYS is set.
"""

import hmac
import math
import time
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import FastAPI, HTTPException, Request, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import Settings

API_KEY_HEADER = "X-API-Key"
# Past this many clients, the buckets of those idle long enough to be full again are dropped.
_MAX_TRACKED_CLIENTS = 10_000


def add_security(app: FastAPI, settings: Settings) -> None:
    """The write guard's keys and rate limit (`WriteAccess` applies them), body bounds, CORS."""
    rate = settings.gateway_write_rate_per_minute
    max_body_bytes = settings.gateway_max_body_bytes
    app.state.write_guard = WriteGuard(
        api_keys=ApiKeys(key.get_secret_value() for key in settings.gateway_api_keys),
        rate_limit=RateLimit(per_minute=rate, burst=settings.gateway_write_burst) if rate else None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if settings.gateway_cors_origins:
        # Around the routes: preflights never reach one, and every answer, refusals included,
        # carries the CORS headers a page needs to read it.
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
    """429 (with Retry-After) past a client's rate, then 401 without a valid key."""

    def __init__(self, api_keys: ApiKeys, rate_limit: RateLimit | None) -> None:
        self.api_keys = api_keys
        self.rate_limit = rate_limit

    def check(self, *, address: str, presented: bytes | None) -> None:
        key_index = self.api_keys.index_of(presented)
        self._check_rate(address, key_index)
        if self.api_keys.required and key_index is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"Writes need an API key: send it as `{API_KEY_HEADER}: <key>` "
                "or `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _check_rate(self, address: str, key_index: int | None) -> None:
        if self.rate_limit is None:
            return
        # Clients with a key share its bucket wherever they connect from; others go by address.
        client = f"key:{key_index}" if key_index is not None else f"address:{address}"
        wait_s = self.rate_limit.wait_s(client)
        if wait_s:
            retry_after = math.ceil(wait_s)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"Too many writes from this client; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="A gateway API key.")
_bearer = HTTPBearer(auto_error=False, description="A gateway API key as a bearer token.")


async def require_write_access(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """The write guard, for every write route (async: no thread hand-off on the write path)."""
    presented = api_key if api_key is not None else bearer.credentials if bearer else None
    address = request.client.host if request.client else "unknown"
    guard: WriteGuard = request.app.state.write_guard
    guard.check(
        address=address,
        presented=presented.strip().encode("latin-1") if presented is not None else None,
    )


# Declared on each write route (`dependencies=[WriteAccess]`); reads stay open.
WriteAccess = Security(require_write_access)


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
