"""The `candidate_predictions` table: what a candidate model said of a review, stored apart."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from gateway.database import Base, UTCDateTime, utcnow


class CandidatePrediction(Base):
    __tablename__ = "candidate_predictions"
    # One prediction per review and candidate: a re-scored (edited) review replaces its own. The
    # model tag leads, since the comparison reads one candidate's rows.
    __table_args__ = (UniqueConstraint("model_tag", "review_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    model_tag: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(16))
    probabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    positivity: Mapped[float]
    # None when the candidate has no rating head (the model client checked the range).
    stars: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
