"""The `idempotency_keys` table: each caller's keys, what the first request asked and created."""

from datetime import datetime

from sqlalchemy import SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.database import Base, UTCDateTime

MAX_KEY_LENGTH = 255


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # Whose key: `Caller.limit_key` ("user:<id>", or "key:<index>" for a machine client).
    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    # SHA-256 of the operation and its canonical body: a retry must ask the same.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The movie or review the first request created (no foreign key: either table), and the
    # status it was answered with.
    resource_id: Mapped[int]
    status_code: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The key is remembered until then; afterwards it counts as new, and is purged later.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
