"""Idempotency keys stored in the transaction of the write they guard: `claim` stores a request's
key with what it created, `earlier` reads a taken key's first answer, `purge_expired` clears keys
long expired.

A claim is an upsert that replaces only an expired row. On PostgreSQL a claim that meets another
transaction's uncommitted row for the same key waits until that transaction ends, so a concurrent
retry sees the first request's committed key (or takes the key, if the first rolled back); on
SQLite writers take turns anyway.
"""

import asyncio
import enum
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gateway.database import Base, utcnow
from gateway.idempotency.models import IdempotencyKey

Resource = TypeVar("Resource", bound=Base)
Scope = tuple[str, str]  # (caller, key): a key is its caller's own

# An expired key is purged this much later, so a request that found it live still reads it back.
PURGE_GRACE = timedelta(hours=1)
PURGE_INTERVAL_S = 3600.0
FIRST_PURGE_AFTER_S = 60.0
_REPLACED = ("fingerprint", "resource_id", "status_code", "created_at", "expires_at")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyedWrite:
    """A create request sent with an Idempotency-Key: whose key, which, what was asked, and how
    long the key is remembered once stored."""

    caller: str
    key: str
    fingerprint: str
    ttl: timedelta

    @property
    def scope(self) -> Scope:
        return self.caller, self.key


def fingerprint(operation: str, body: BaseModel) -> str:
    """SHA-256 of the operation and the validated body in canonical JSON: two requests that
    would store the same thing have the same fingerprint, however their JSON was spaced."""
    canonical = json.dumps(
        {"operation": operation, "body": body.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Replay(Generic[Resource]):
    """The answer to a retry: the first request's status and what it created, as it is now
    (None: deleted since)."""

    status_code: int
    resource: Resource | None


class Refusal(enum.Enum):
    """Why a request whose key was taken gets no replay."""

    REUSED = "the key was first used for a different request"
    BUSY = "the key was taken, but its first answer could not be read back"


@dataclass(frozen=True)
class StoredKey(Generic[Resource]):
    fingerprint: str
    status_code: int
    resource: Resource | None


def claim(
    session: Session, writes: Sequence[tuple[KeyedWrite, int]], *, status_code: int
) -> set[Scope]:
    """Store each write's key with the id of what it created, in the session's transaction; the
    keys stored. A key live already (another request's) is left as it is, an expired one replaced.
    The writes' keys must be distinct."""
    if not writes:
        return set()
    now = utcnow()
    rows = [
        {"caller": write.caller, "key": write.key, "fingerprint": write.fingerprint,
         "resource_id": resource_id, "status_code": status_code, "created_at": now,
         "expires_at": now + write.ttl}
        for write, resource_id in writes
    ]  # fmt: skip
    # One order for every transaction's keys, so two that share keys cannot deadlock.
    rows.sort(key=lambda row: (row["caller"], row["key"]))
    insert = _insert_for(session)(IdempotencyKey).values(rows)
    upsert = insert.on_conflict_do_update(
        index_elements=[IdempotencyKey.caller, IdempotencyKey.key],
        set_={column: insert.excluded[column] for column in _REPLACED},
        where=IdempotencyKey.expires_at <= now,
    ).returning(IdempotencyKey.caller, IdempotencyKey.key)
    return {(caller, key) for caller, key in session.execute(upsert)}


def _insert_for(session: Session) -> Any:
    """The dialect's INSERT, the one with ON CONFLICT (the gateway runs on these two)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def earlier(
    session: Session, writes: Sequence[KeyedWrite], resource: type[Resource]
) -> dict[Scope, StoredKey[Resource]]:
    """The live keys among these writes', each with its first answer and the `resource` row it
    created (None where that row is gone)."""
    if not writes:
        return {}
    resource_id = resource.id  # type: ignore[attr-defined]
    query = (
        select(IdempotencyKey, resource)
        .outerjoin(resource, resource_id == IdempotencyKey.resource_id)
        .where(tuple_(IdempotencyKey.caller, IdempotencyKey.key).in_([w.scope for w in writes]))
        .where(IdempotencyKey.expires_at > utcnow())
    )
    return {
        (key.caller, key.key): StoredKey(key.fingerprint, key.status_code, created)
        for key, created in session.execute(query).tuples()
    }


def answer_retry(
    write: KeyedWrite, stored: StoredKey[Resource] | None
) -> Replay[Resource] | Refusal:
    """What a request whose key was taken gets: the first answer, if it asks the same."""
    if stored is None:
        return Refusal.BUSY
    if stored.fingerprint != write.fingerprint:
        return Refusal.REUSED
    return Replay(stored.status_code, stored.resource)


def purge_expired(session: Session) -> int:
    """Delete the keys that expired more than PURGE_GRACE ago; how many."""
    purged = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at < utcnow() - PURGE_GRACE)
    ).rowcount
    session.commit()
    return purged


async def run_purge(
    session_factory: sessionmaker[Session],
    *,
    first_after_s: float = FIRST_PURGE_AFTER_S,
    interval_s: float = PURGE_INTERVAL_S,
) -> None:
    """Purge expired keys now and then until cancelled: off the request path, and only to keep
    the table small (a lookup ignores an expired key anyway)."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            purged = await run_in_threadpool(_purge, session_factory)
        except Exception:
            logger.warning("purging expired idempotency keys failed; next try later", exc_info=True)
        else:
            if purged:
                logger.info("purged %d expired idempotency keys", purged)
        await asyncio.sleep(interval_s)


def _purge(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return purge_expired(session)
