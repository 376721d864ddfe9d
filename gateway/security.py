"""What the gateway's callers present and may send: machine API keys, signed access tokens, the
abuse limits, how large a body may be, CORS. Who may do what is `gateway.users.dependencies`."""

import hmac
from collections.abc import Iterable

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.rate_limits import RateLimits
from gateway.settings import Settings
from gateway.users.security import TokenSigner

API_KEY_HEADER = "X-API-Key"


def add_security(app: FastAPI, settings: Settings) -> None:
    """Keys, token signer and limits in the app's state (the dependencies read them there), body
    bounds, CORS."""
    max_body_bytes = settings.gateway_max_body_bytes
    app.state.api_keys = ApiKeys(key.get_secret_value() for key in settings.gateway_api_keys)
    app.state.tokens = TokenSigner.from_settings(settings)
    app.state.rate_limits = RateLimits(settings)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if settings.gateway_cors_origins:
        # Around the routes: preflights never reach one, and every answer, refusals included,
        # carries the CORS headers a page needs to read it.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.gateway_cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "Authorization", API_KEY_HEADER, "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
        )

    async def body_too_large(_request: Request, _exc: Exception) -> JSONResponse:
        return _too_large(max_body_bytes)

    app.add_exception_handler(status.HTTP_413_CONTENT_TOO_LARGE, body_too_large)


class ApiKeys:
    """The machine clients' keys."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys]

    def index_of(self, presented: bytes | None) -> int | None:
        """Which configured key was presented, or None; every key is compared, in constant time."""
        if presented is None:
            return None
        matches = [hmac.compare_digest(presented, key) for key in self._keys]
        return matches.index(True) if any(matches) else None


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
