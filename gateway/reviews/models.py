"""The `reviews` table: content, scoring status and result, and the scorer's claim on the row."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from gateway.database import Base, UTCDateTime, utcnow
from gateway.scoring.client import LABELS
from gateway.users.models import User


class ReviewStatus(StrEnum):
    PENDING = "pending"
    SCORED = "scored"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


# The model client refuses any other value; the database holds the line should one slip past.
STARS_IN_RANGE = "stars BETWEEN 1 AND 10"


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_one_of("status", tuple(ReviewStatus)), name="status"),
        CheckConstraint(_one_of("sentiment_label", LABELS), name="sentiment_label"),
        CheckConstraint(STARS_IN_RANGE, name="stars"),
        Index("ix_reviews_movie_id_created_at", "movie_id", "created_at"),
        # The background scorer's queue: small, because reviews leave it once scored.
        Index(
            "ix_reviews_pending",
            "id",
            postgresql_where="status = 'pending'",
            sqlite_where="status = 'pending'",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    # The account that wrote it; None for reviews from before accounts and from machine clients.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(User.id, ondelete="SET NULL"), index=True
    )
    author: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.PENDING)
    sentiment_label: Mapped[str | None] = mapped_column(String(16))
    # The model's confidence in `sentiment_label`; `positivity` is what ratings average.
    sentiment_score: Mapped[float | None]
    positivity: Mapped[float | None]
    probabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The star rating (1-10) the model expects the writer gave; None while pending, and when the
    # model that scored it has no rating head.
    stars: Mapped[float | None]
    sentiment_model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), index=True
    )
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who is scoring this row and until when; a lapsed claim is free for any scorer to take.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
