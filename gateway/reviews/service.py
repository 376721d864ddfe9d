"""Review queries and changes; a new or re-written review is stored pending, claimed for scoring."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.database import MAX_ID
from gateway.movies.models import Movie
from gateway.reviews.models import Review, ReviewStatus
from gateway.reviews.schemas import ReviewCreate, ReviewUpdate
from gateway.scoring.service import Claim


def get(*, session: Session, review_id: int) -> Review | None:
    """The review with this id, or None."""
    if not 1 <= review_id <= MAX_ID:
        return None
    return session.get(Review, review_id)


def get_all(
    *, session: Session, skip: int, limit: int, movie_id: int | None = None
) -> list[Review]:
    """Reviews newest first, of one movie when `movie_id` is given."""
    query = select(Review)
    if movie_id is not None:
        query = query.where(Review.movie_id == movie_id)
    query = query.order_by(Review.created_at.desc(), Review.id.desc()).offset(skip).limit(limit)
    return list(session.scalars(query))


def create_many(
    *, session: Session, new_reviews: Sequence[tuple[ReviewCreate, Claim]]
) -> list[Review | None]:
    """Store reviews as pending under their claims, in one transaction; None where the movie does
    not exist. Concurrent requests' reviews arrive here together (a group commit)."""
    existing = existing_movie_ids(session, {review_in.movie_id for review_in, _ in new_reviews})
    accepted = [
        (review_in, claim) for review_in, claim in new_reviews if review_in.movie_id in existing
    ]
    try:
        stored = _insert_pending(session, accepted)
        session.commit()
    except IntegrityError:
        # A movie was deleted between the check and the insert: one by one, so that only its
        # reviews are turned away.
        session.rollback()
        if len(new_reviews) == 1:
            return [None]
        return [create_many(session=session, new_reviews=[new])[0] for new in new_reviews]
    by_claim = {review.claim_token: review for review in stored}
    return [by_claim.get(claim.token) for _, claim in new_reviews]


def _insert_pending(
    session: Session, new_reviews: Sequence[tuple[ReviewCreate, Claim]]
) -> list[Review]:
    """One multi-row INSERT ... RETURNING: the ORM's unit of work cost more than the insert."""
    if not new_reviews:
        return []
    rows = [
        review_in.model_dump()
        | {"status": ReviewStatus.PENDING, "claim_token": claim.token, "claimed_until": claim.until}
        for review_in, claim in new_reviews
    ]
    return list(session.scalars(insert(Review).returning(Review), rows))


def existing_movie_ids(session: Session, movie_ids: set[int]) -> set[int]:
    valid = [movie_id for movie_id in movie_ids if 1 <= movie_id <= MAX_ID]
    return set(session.scalars(select(Movie.id).where(Movie.id.in_(valid))))


def update_(*, session: Session, review: Review, review_in: ReviewUpdate, claim: Claim) -> bool:
    """Apply the fields sent; new content makes the review pending under `claim`. Whether it did."""
    values: dict[str, Any] = review_in.model_dump(exclude_unset=True)
    rewritten = "content" in values and values["content"] != review.content
    if rewritten:
        # Every sentiment column is written, so a score of the old text stored meanwhile is erased.
        values |= {
            "status": ReviewStatus.PENDING,
            "sentiment_label": None,
            "sentiment_score": None,
            "positivity": None,
            "probabilities": None,
            "sentiment_model": None,
            "scored_at": None,
            "claim_token": claim.token,
            "claimed_until": claim.until,
        }
    if values:
        session.execute(
            update(Review)
            .where(Review.id == review.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        session.refresh(review)
    return rewritten


def delete_(*, session: Session, review: Review) -> None:
    """Delete the review."""
    session.execute(delete(Review).where(Review.id == review.id))
    session.commit()
