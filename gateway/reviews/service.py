"""Review queries and changes; a new or re-written review is stored pending, claimed for scoring,
and scored at once where the model service answers."""

import asyncio
from collections.abc import Awaitable, Container, Iterable, Sequence
from typing import Any, NamedTuple

from fastapi import HTTPException, status
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.coalescer import Coalescer
from gateway.database import MAX_ID
from gateway.errors import invalid_input
from gateway.idempotency import service as idempotency
from gateway.idempotency.service import KeyedWrite, Refusal, Replay, Scope, StoredKey
from gateway.movies.dependencies import MOVIE_NOT_FOUND
from gateway.movies.models import Movie
from gateway.reviews.claims import Claim, ClaimedReview, new_claim
from gateway.reviews.models import Review, ReviewStatus
from gateway.reviews.schemas import NewReviewRecord, ReviewCreate, ReviewUpdate
from gateway.reviews.scorer import ReviewScorer
from gateway.scoring.client import Prediction
from gateway.users.dependencies import Caller


class NewReview(NamedTuple):
    """A review to store pending under `claim`, guarded by its request's idempotency key."""

    record: NewReviewRecord
    claim: Claim
    key: KeyedWrite | None = None


# What a new review came to: stored; a retry's replay, or its refusal; None: no such movie.
Inserted = Review | Replay[Review] | Refusal | None
# New reviews of concurrent requests, stored pending in shared transactions (`create_many`).
ReviewInserts = Coalescer[NewReview, Inserted]

REVIEW_NOT_FOUND = "Review not found"


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


def authored(*, review_in: ReviewCreate, caller: Caller) -> NewReviewRecord:
    """The review as written by `caller`: an account's display name, or a machine's `author`."""
    if caller.user is not None:
        author, user_id = caller.user.display_name, caller.user.id
    elif review_in.author is not None:
        author, user_id = review_in.author, None
    else:
        raise invalid_input(
            "author", "Field required from a machine client (an account writes under its name)"
        )
    return NewReviewRecord(
        movie_id=review_in.movie_id, author=author, content=review_in.content, user_id=user_id
    )


def create_many(*, session: Session, new_reviews: Sequence[NewReview]) -> list[Inserted]:
    """Store reviews as pending under their claims, each key with its review, in one transaction.
    Concurrent requests' reviews arrive here together (a group commit).

    Of the reviews that share a key only the first whose movie exists is inserted, and it is taken
    out again if its key was taken already (by a request before, or by another transaction now):
    every other request with that key gets the first request's answer, or a refusal.
    """
    existing = existing_movie_ids(session, {new.record.movie_id for new in new_reviews})
    firsts = _first_per_key(new for new in new_reviews if new.record.movie_id in existing)
    try:
        reviews = {review.claim_token: review for review in _insert_pending(session, firsts)}
        first_answers = _store_keys(session, firsts, reviews)
        first_answers |= idempotency.earlier(
            session, _keys_not_in(new_reviews, first_answers), Review
        )
        session.commit()
    except IntegrityError:
        # A movie was deleted between the check and the insert: one by one, so that only its
        # reviews are turned away.
        session.rollback()
        if len(new_reviews) == 1:
            return [None]
        return [create_many(session=session, new_reviews=[new])[0] for new in new_reviews]
    tried = {new.key.scope for new in firsts if new.key is not None}
    return [_inserted(new, reviews, first_answers, tried) for new in new_reviews]


def _first_per_key(new_reviews: Iterable[NewReview]) -> list[NewReview]:
    """The reviews without a key, and the first of those with each key."""
    seen: set[Scope] = set()
    firsts = []
    for new in new_reviews:
        if new.key is not None:
            if new.key.scope in seen:
                continue
            seen.add(new.key.scope)
        firsts.append(new)
    return firsts


def _store_keys(
    session: Session, firsts: Sequence[NewReview], reviews: dict[str, Review]
) -> dict[Scope, StoredKey[Review]]:
    """Store each inserted review's key; delete the reviews whose key was taken (from `reviews`
    too). The first answers of the keys stored."""
    keyed = [(new.key, reviews[new.claim.token]) for new in firsts if new.key is not None]
    claimed = idempotency.claim(
        session, [(key, review.id) for key, review in keyed], status_code=status.HTTP_201_CREATED
    )
    if taken := [review for key, review in keyed if key.scope not in claimed]:
        session.execute(delete(Review).where(Review.id.in_([review.id for review in taken])))
        for review in taken:
            del reviews[review.claim_token]
    return {
        key.scope: StoredKey(key.fingerprint, status.HTTP_201_CREATED, review)
        for key, review in keyed
        if key.scope in claimed
    }


def _keys_not_in(new_reviews: Sequence[NewReview], scopes: Container[Scope]) -> list[KeyedWrite]:
    """One write per key of `new_reviews` that is not in `scopes`."""
    keys = {new.key.scope: new.key for new in new_reviews if new.key is not None}
    return [key for scope, key in keys.items() if scope not in scopes]


def _inserted(
    new: NewReview,
    reviews: dict[str, Review],
    first_answers: dict[Scope, StoredKey[Review]],
    tried: set[Scope],
) -> Inserted:
    """What one request's review came to, once the transaction committed."""
    if new.claim.token in reviews:
        return reviews[new.claim.token]
    if new.key is None or not (new.key.scope in first_answers or new.key.scope in tried):
        return None  # its movie does not exist (and its key was never used)
    return idempotency.answer_retry(new.key, first_answers.get(new.key.scope))


def _insert_pending(session: Session, new_reviews: Sequence[NewReview]) -> list[Review]:
    """One multi-row INSERT ... RETURNING: the ORM's unit of work costs more than the insert."""
    if not new_reviews:
        return []
    rows = [
        new.record.model_dump()
        | {
            "status": ReviewStatus.PENDING,
            "claim_token": new.claim.token,
            "claimed_until": new.claim.until,
        }
        for new in new_reviews
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
            "stars": None,
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


async def create_and_score(
    *,
    inserts: ReviewInserts,
    scorer: ReviewScorer,
    review_in: NewReviewRecord,
    key: KeyedWrite | None = None,
) -> Review | Replay[Review] | Refusal:
    """Store the review and score it; it stays `pending` while the model service is away. With a
    key taken already: the first request's answer (the review as it is now), or the refusal.

    No request-scoped session: the insert shares a transaction with those of concurrent
    requests, and so does storing the score. The text goes to the model service while the review
    is being stored, so the two waits overlap; the score is stored after the review.
    """
    claim = new_claim(scorer.lease_s)
    predicting = asyncio.create_task(scorer.classifier.classify([review_in.content]))
    try:
        inserted = await inserts.submit(NewReview(review_in, claim, key))
    except BaseException:
        _drop(predicting)
        raise
    if isinstance(inserted, Review):
        return await _score(scorer, inserted, claim, predicting)
    _drop(predicting)
    if inserted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=MOVIE_NOT_FOUND)
    return inserted


async def update_and_score(
    *,
    session: Session,
    scorer: ReviewScorer,
    review: Review,
    review_in: ReviewUpdate,
    caller: Caller,
) -> Review:
    """Change the fields sent; new content is scored again (or left `pending`, as on create).
    An account's review keeps its author (their display name) whoever edits it."""
    if caller.user is not None or review.user_id is not None:
        sent = review_in.model_dump(exclude_unset=True, exclude={"author"})
        review_in = ReviewUpdate.model_construct(**sent)
    claim = new_claim(scorer.lease_s)
    rewritten = await run_in_threadpool(
        update_, session=session, review=review, review_in=review_in, claim=claim
    )
    return await _score(scorer, review, claim) if rewritten else review


def _drop(predicting: asyncio.Task[list[Prediction]]) -> None:
    """Cancel a prediction nobody will store (its failure, if it failed, is not an error here)."""
    predicting.cancel()
    predicting.add_done_callback(lambda task: task.cancelled() or task.exception())


async def _score(
    scorer: ReviewScorer,
    review: Review,
    claim: Claim,
    predicting: Awaitable[list[Prediction]] | None = None,
) -> Review:
    """The review with its score, or as stored (`pending`) when it could not be scored now."""
    stored = await scorer.score_or_leave_pending(
        [ClaimedReview(id=review.id, content=review.content, claim_token=claim.token)], predicting
    )
    if stored:
        return stored[0]

    def read_again() -> Review | None:
        # Not scored: the model service is away, or the review changed or went meanwhile.
        with scorer.session_factory() as session:
            return session.get(Review, review.id)

    try:
        scored = await run_in_threadpool(read_again)
    except SQLAlchemyError:
        # The review is stored; answering with it as stored beats an error that invites a repost.
        return review
    if scored is None:
        # Deleted by another request while it was being scored.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REVIEW_NOT_FOUND)
    return scored
