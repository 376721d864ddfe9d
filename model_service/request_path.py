"""BentoML's per-request path, minus two costs it pays on every request for nothing.

Both are in BentoML (pinned 1.4.39); each patch keeps what BentoML promises and drops the waste:

- `APIMethod.__get__` builds the API's local caller anew on every attribute access: an
  `inspect.signature` of the API function, a `functools.wraps` copy, a replaced signature. The
  request path reads `getattr(instance, name).local` twice a request (api_endpoint, batch_infer).
  The caller depends only on the method and the instance, so it is built once per instance.
- `TimeoutMiddleware` runs each request as a separate Task beside a waiter future, and schedules
  a timer it never cancels: at a thousand requests a second and the 30 s default timeout, the
  event loop keeps some 30,000 dead timers. The same promise (a 504 when no response has started
  within the timeout; a response once started is not cut) holds with `asyncio.timeout`,
  rescheduled to never at the first message, in the request's own task.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _bentoml_sdk.method import APIMethod
from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

_bentoml_get = APIMethod.__get__
_bentoml_timeout_middleware = traffic.TimeoutMiddleware


def _caller_built_once(method: APIMethod, instance: Any, owner: type | None = None) -> Any:
    if instance is None:
        return method
    callers = instance.__dict__.setdefault("_bentoml_api_callers", {})
    caller = callers.get(method.name)
    if caller is None:
        caller = callers[method.name] = _bentoml_get(method, instance, owner)
    return caller


class TimeoutMiddleware:
    """A 504 when the app has not started its response within `timeout` seconds."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_and_keep(message: Any) -> None:
            deadline.reschedule(None)  # a response once started is not cut
            await send(message)

        try:
            async with asyncio.timeout(self.timeout) as deadline:
                await self.app(scope, receive, send_and_keep)
            return
        except TimeoutError:
            if not deadline.expired():
                raise  # the app's own, not this deadline's
        body = {"error": f"Not able to process the request in {self.timeout} seconds"}
        await JSONResponse(body, status_code=504)(scope, receive, send)


def trim_request_path() -> None:
    """Patch BentoML, in this process, before the service builds its app."""
    APIMethod.__get__ = _caller_built_once  # type: ignore[method-assign,assignment]
    traffic.TimeoutMiddleware = TimeoutMiddleware  # type: ignore[misc]


def request_path_trimmed() -> bool:
    """Whether this process runs BentoML's request path with both patches."""
    return (
        APIMethod.__get__ is _caller_built_once and traffic.TimeoutMiddleware is TimeoutMiddleware
    )
