"""Abuse limits, counted by the `limits` library in memory or, to hold across gateway instances,
in Redis (RATE_LIMIT_STORAGE_URL=redis://...): writes per caller, failed sign-ins per account
and per client. Past a limit: 429 with Retry-After."""

import math
import time

from fastapi import HTTPException, status
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from gateway.settings import Settings


def _storage(url: str) -> Storage:
    # The async storages are named async+<scheme>; redis-py is the client the project pins.
    options = {"implementation": "redispy"} if url.startswith(("redis", "rediss")) else {}
    storage = storage_from_string(f"async+{url}", **options)
    assert isinstance(storage, Storage)
    return storage


class Limit:
    """One limit (e.g. 5/minute) counted per key, in the shared storage."""

    def __init__(self, limiter: MovingWindowRateLimiter, item: RateLimitItem, name: str) -> None:
        self._limiter = limiter
        self._item = item
        self._name = name

    async def check(self, key: str, *, message: str) -> None:
        """429 when `key` is at its limit now (counting nothing)."""
        if not await self._limiter.test(self._item, self._name, key):
            await self._refuse(key, message)

    async def hit(self, key: str, *, message: str) -> None:
        """Count one for `key`; 429 when that is over its limit."""
        if not await self._limiter.hit(self._item, self._name, key):
            await self._refuse(key, message)

    async def count(self, key: str) -> None:
        """Count one for `key`, refusing nothing (the next `check` does)."""
        await self._limiter.hit(self._item, self._name, key)

    async def _refuse(self, key: str, message: str) -> None:
        stats = await self._limiter.get_window_stats(self._item, self._name, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"{message}; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class RateLimits:
    """The gateway's limits; a limit configured as "" is None (off)."""

    def __init__(self, settings: Settings) -> None:
        limiter = MovingWindowRateLimiter(_storage(settings.rate_limit_storage_url))

        def limit(spec: str, name: str) -> Limit | None:
            return Limit(limiter, parse(spec), name) if spec else None

        self.writes = limit(settings.gateway_write_limit, "writes")
        self.sign_ins_per_account = limit(settings.sign_in_limit_per_account, "sign-in-account")
        self.sign_ins_per_client = limit(settings.sign_in_limit_per_client, "sign-in-client")
