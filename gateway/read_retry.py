"""One more try for idempotent reads that met an unavailable database."""

from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

READS = frozenset({"GET", "HEAD"})


class _HeldBack(Exception):
    """The app answered 503 and nothing of the answer was sent: the read may run again."""


class ReadRetryMiddleware:
    """Runs a GET or HEAD again, after a short pause, when its first answer was a 503.

    A PostgreSQL restart or failover drops every pooled connection: pre-ping replaces them at
    checkout, but a read already running on one fails. A read is safe to run twice, so a blip
    costs its client a little latency instead of an error. Only the 503 is held back, never a
    successful response; writes are never repeated (the client decides, on a 503 + Retry-After).
    """

    def __init__(self, app: Any, attempts: int = 2, pause_s: float = 0.5) -> None:
        self.app = app
        self.attempts = attempts
        self.pause_s = pause_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in READS:
            await self.app(scope, receive, send)
            return
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_HeldBack),
            stop=stop_after_attempt(self.attempts),
            wait=wait_fixed(self.pause_s),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                last = attempt.retry_state.attempt_number >= self.attempts
                await self._try(scope, receive, send, last=last)

    async def _try(self, scope: Any, receive: Any, send: Any, *, last: bool) -> None:
        """Runs the app once; raises _HeldBack when its answer was a 503 held back to retry."""
        held = False

        async def send_unless_unavailable(message: dict) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 503 and not last:
                held = True
            if not held:
                await send(message)

        await self.app(scope, receive, send_unless_unavailable)
        if held:
            raise _HeldBack
