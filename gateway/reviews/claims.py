"""Claims on reviews and the storing of their scores, each in one short transaction.

A scorer first claims reviews (a token and a lease, committed at once), then calls the model
service holding no transaction, then stores every score of the batch in one transaction, only where
its claim still stands. A scorer that dies mid-batch stores nothing; its claims lapse and another
scorer takes the reviews. A claim replaced meanwhile (the review was edited, or the lease lapsed
and another scorer took it) makes the late write a no-op, so no review is scored twice.
"""

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from gateway.database import UTCDateTime, utcnow
from gateway.reviews.models import Review, ReviewStatus
from gateway.scoring.client import Prediction


@dataclass(frozen=True)
class Claim:
    token: str
    until: datetime


@dataclass(frozen=True)
class ClaimedReview:
    id: int
    content: str
    claim_token: str


def new_claim(lease_s: float) -> Claim:
    """A fresh claim token whose lease runs `lease_s` seconds from now."""
    return Claim(token=uuid.uuid4().hex, until=utcnow() + timedelta(seconds=lease_s))


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(Review.claimed_until.is_(None), Review.claimed_until < now)


def _claim(
    session: Session, condition: ColumnElement[bool], *, limit: int, lease_s: float
) -> list[ClaimedReview]:
    claim = new_claim(lease_s)
    claimable = and_(condition, _unclaimed(utcnow()))
    # SKIP LOCKED (PostgreSQL) lets concurrent scorers take disjoint batches without waiting. It is
    # a statement of its own: as a subquery of the UPDATE the planner may rescan it and claim more.
    candidates = session.scalars(
        select(Review.id)
        .where(claimable)
        .order_by(Review.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        session.commit()
        return []
    # Repeating the condition keeps out a row another scorer claimed meanwhile (SQLite has no
    # row locks; it serialises the UPDATEs instead).
    claimed = session.execute(
        update(Review)
        .where(Review.id.in_(candidates), claimable)
        .values(claim_token=claim.token, claimed_until=claim.until)
        .returning(Review.id, Review.content)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(
        (ClaimedReview(id=row.id, content=row.content, claim_token=claim.token) for row in claimed),
        key=lambda review: review.id,
    )


def claim_pending(*, session: Session, limit: int, lease_s: float) -> list[ClaimedReview]:
    """Claim up to `limit` pending reviews no other scorer holds, oldest first."""
    return _claim(session, Review.status == ReviewStatus.PENDING, limit=limit, lease_s=lease_s)


def _outdated(served_model: str, scored_before: datetime) -> ColumnElement[bool]:
    # Only scores from before the run began: a review the service has since scored under yet
    # another tag (it was swapped mid-run) does not come round again.
    return and_(
        Review.status == ReviewStatus.SCORED,
        Review.sentiment_model != served_model,
        or_(Review.scored_at.is_(None), Review.scored_at < scored_before),
    )


def claim_outdated(
    *, session: Session, served_model: str, scored_before: datetime, limit: int, lease_s: float
) -> list[ClaimedReview]:
    """Claim up to `limit` reviews scored before `scored_before` by a model other than
    `served_model`, oldest first, that no other scorer holds."""
    return _claim(session, _outdated(served_model, scored_before), limit=limit, lease_s=lease_s)


def count_outdated(
    *, session: Session, served_model: str, scored_before: datetime, claimed_only: bool = False
) -> int:
    """Reviews `claim_outdated` would take, or (`claimed_only`) those under a scorer's claim.

    A claim counts until a score or a release clears it, lapsed or not: a claim that lapsed just
    after a `claim_outdated` passed it over is still work to take.
    """
    condition = _outdated(served_model, scored_before)
    if claimed_only:
        condition = and_(condition, Review.claim_token.is_not(None))
    return session.scalar(select(func.count(Review.id)).where(condition))


def store_predictions(
    *, session: Session, reviews: Sequence[ClaimedReview], predictions: Sequence[Prediction]
) -> list[Review | None]:
    """Store each review's prediction where its claim still stands, all in one transaction.

    Returns, per review in order, the review as stored (RETURNING: a request answers with its
    review without reading it again), or None where its claim no longer stood.
    """
    scored_at = utcnow()
    stored: dict[tuple[int, str], Review] = {}
    rest = list(zip(reviews, predictions, strict=True))
    while rest:
        # One statement per round, each review at most once in it: RETURNING names only the row,
        # so a review under an old and a new claim (a lease lapsed meanwhile) takes two rounds
        # and only the claim that stood hears its review stored.
        round_, rest = _one_claim_per_review(rest)
        claims = {review.id: review.claim_token for review, _ in round_}
        statement = _store_statement(len(round_))
        for row in session.scalars(statement, _score_parameters(round_, scored_at)):
            stored[(row.id, claims[row.id])] = row
    session.commit()
    return [stored.get((review.id, review.claim_token)) for review in reviews]


ScoredReview = tuple[ClaimedReview, Prediction]


def _one_claim_per_review(
    scored: list[ScoredReview],
) -> tuple[list[ScoredReview], list[ScoredReview]]:
    """The first claim of each review, and any later claims of the same reviews."""
    first: dict[int, ScoredReview] = {}
    later: list[ScoredReview] = []
    for review, prediction in scored:
        if review.id in first:
            later.append((review, prediction))
        else:
            first[review.id] = (review, prediction)
    return list(first.values()), later


def _score_parameters(scored: list[ScoredReview], scored_at: datetime) -> dict[str, object]:
    parameters: dict[str, object] = {"scored_at": scored_at}
    for i, (review, prediction) in enumerate(scored):
        parameters |= {
            f"id_{i}": review.id,
            f"claim_token_{i}": review.claim_token,
            f"label_{i}": prediction.label,
            f"confidence_{i}": prediction.confidence,
            f"positivity_{i}": prediction.positivity,
            f"stars_{i}": prediction.stars,
            f"probabilities_{i}": prediction.probabilities,
            f"model_{i}": prediction.model,
        }
    return parameters


@functools.lru_cache(maxsize=128)
def _store_statement(count: int) -> ReturningUpdate[tuple[Review]]:
    """One UPDATE storing the scores of `count` reviews, each only where its claim still stands.

    One statement for the whole group, since per-statement work is what the write path spends
    most on under load. The scores travel as a table of bound parameters
    named per row, so SQLAlchemy compiles the statement once per group size and then takes it
    from its cache; a VALUES list with data would be compiled on every call.
    """

    def score_row(i: int) -> Select[Any]:
        return select(
            bindparam(f"id_{i}", type_=Integer).label("id"),
            bindparam(f"claim_token_{i}", type_=String).label("claim_token"),
            bindparam(f"label_{i}", type_=String).label("label"),
            bindparam(f"confidence_{i}", type_=Float).label("confidence"),
            bindparam(f"positivity_{i}", type_=Float).label("positivity"),
            # Typed in the SQL: psycopg2 sends values as literals, and a CTE column that is NULL
            # in every row would reach PostgreSQL as text, which no float column takes.
            cast(bindparam(f"stars_{i}", type_=Float), Float).label("stars"),
            bindparam(f"probabilities_{i}", type_=JSON).label("probabilities"),
            bindparam(f"model_{i}", type_=String).label("model"),
        )

    rows = [score_row(i) for i in range(count)]
    scores = (union_all(*rows) if count > 1 else rows[0]).cte("scores")
    return (
        update(Review)
        .where(Review.id == scores.c.id, Review.claim_token == scores.c.claim_token)
        .values(
            status=ReviewStatus.SCORED,
            sentiment_label=scores.c.label,
            sentiment_score=scores.c.confidence,
            positivity=scores.c.positivity,
            stars=scores.c.stars,
            probabilities=scores.c.probabilities,
            sentiment_model=scores.c.model,
            scored_at=bindparam("scored_at", type_=UTCDateTime),
            claim_token=None,
            claimed_until=None,
        )
        .returning(Review)
        .execution_options(synchronize_session=False)
    )


def release(
    *, session: Session, reviews: Sequence[ClaimedReview], retry_after_s: float = 0.0
) -> None:
    """Give up these claims; the reviews are free again at once or after `retry_after_s`."""
    free_from = utcnow() + timedelta(seconds=retry_after_s) if retry_after_s else None
    for review in reviews:
        session.execute(
            update(Review)
            .where(Review.id == review.id, Review.claim_token == review.claim_token)
            .values(claim_token=None, claimed_until=free_from)
            .execution_options(synchronize_session=False)
        )
    session.commit()
