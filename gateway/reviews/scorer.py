"""Scoring claimed reviews through the model service, and the background loop that finds them."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from gateway.coalescer import group_commit
from gateway.reviews import claims
from gateway.reviews.claims import ClaimedReview
from gateway.reviews.models import Review
from gateway.scoring.client import ModelServiceError, Prediction

logger = logging.getLogger(__name__)

Scored = tuple[Sequence[ClaimedReview], Sequence[Prediction]]

_FIRST_BACKOFF_S = 0.5


class Classifier(Protocol):
    """The model service's `classify`: the client itself, or a `ClassifyBatcher` over it."""

    async def classify(self, texts: Sequence[str]) -> list[Prediction]: ...


class ReviewScorer:
    """Scores claimed reviews and stores the results; the database work runs in worker threads."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        classifier: Classifier,
        *,
        lease_s: float,
        reject_delay_s: float,
        max_calls_per_transaction: int = 64,
        max_stores_in_flight: int = 1,
        on_stored: Callable[[Sequence[Review]], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        # Told of every review whose score was stored, as stored (metrics, the shadow); it must
        # not wait.
        self.on_stored = on_stored
        self.classifier = classifier
        self.lease_s = lease_s
        self.reject_delay_s = reject_delay_s
        # Scores of concurrent calls (a request's one review, a background batch) share a
        # transaction.
        self._stores = group_commit(
            self._store_groups,
            max_items=max_calls_per_transaction,
            max_in_flight=max_stores_in_flight,
        )

    async def score(
        self,
        reviews: Sequence[ClaimedReview],
        predicting: Awaitable[list[Prediction]] | None = None,
    ) -> list[Review]:
        """Score and store claimed reviews; the reviews stored, as stored.

        `predicting`: their predictions, already asked for; else they are asked for here.
        Raises ModelServiceError when the service is unavailable (the claims are released first).
        """
        if predicting is None:
            predicting = self.classifier.classify([review.content for review in reviews])
        try:
            predictions = await predicting
        except ModelServiceError as error:
            if not error.input_refused:
                await self._release(reviews)
                raise
            if len(reviews) > 1:
                # One text the service refuses must not hold back the rest of the batch.
                return await self._score_one_by_one(reviews)
            logger.warning("model service refused review %d: %s", reviews[0].id, error)
            await self._release(reviews, retry_after_s=self.reject_delay_s)
            return []
        except asyncio.CancelledError:
            await self._release(reviews)
            raise
        stored = await self._stores.submit((reviews, predictions))
        if self.on_stored is not None and stored:
            self.on_stored(stored)
        return stored

    async def score_or_leave_pending(
        self,
        reviews: Sequence[ClaimedReview],
        predicting: Awaitable[list[Prediction]] | None = None,
    ) -> list[Review]:
        """Score now if the model service answers (the reviews stored); else the background
        scorer will."""
        try:
            return await self.score(reviews, predicting)
        except (ModelServiceError, SQLAlchemyError) as error:
            # The reviews are stored already: a failure here only delays their score.
            logger.info("review(s) %s left pending: %s", [review.id for review in reviews], error)
            return []

    async def _score_one_by_one(self, reviews: Sequence[ClaimedReview]) -> list[Review]:
        stored: list[Review] = []
        for position, review in enumerate(reviews):
            try:
                stored += await self.score([review])
            except ModelServiceError:
                await self._release(reviews[position + 1 :])
                raise
        return stored

    def _store_groups(self, groups: Sequence[Scored]) -> list[list[Review]]:
        """Store the scores of several calls in one transaction; each call's reviews stored."""
        with self.session_factory() as session:
            stored = claims.store_predictions(
                session=session,
                reviews=[review for reviews, _ in groups for review in reviews],
                predictions=[prediction for _, predictions in groups for prediction in predictions],
            )
        answers, start = [], 0
        for reviews, _ in groups:
            rows = stored[start : start + len(reviews)]
            answers.append([row for row in rows if row is not None])
            start += len(reviews)
        return answers

    async def _release(self, reviews: Sequence[ClaimedReview], retry_after_s: float = 0.0) -> None:
        def release() -> None:
            with self.session_factory() as session:
                claims.release(session=session, reviews=reviews, retry_after_s=retry_after_s)

        await run_in_threadpool(release)

    def claim_pending(self, limit: int) -> list[ClaimedReview]:
        with self.session_factory() as session:
            return claims.claim_pending(session=session, limit=limit, lease_s=self.lease_s)


async def run_background_scorer(
    scorer: ReviewScorer, *, batch_size: int, poll_interval_s: float, max_backoff_s: float
) -> None:
    """Claim and score pending reviews until cancelled; back off while the model service is down."""
    # The loop must outlive anything one round meets (the database restarting, above all): a
    # failed round is tried again, each pause twice the last up to `max_backoff_s`.
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential(multiplier=_FIRST_BACKOFF_S, max=max_backoff_s),
        before_sleep=_log_failed_round,
    )
    while True:
        reviews = await retrying(_score_pending_round, scorer, batch_size)
        # A full batch suggests more are waiting: go on at once.
        await asyncio.sleep(0 if len(reviews) == batch_size else poll_interval_s)


async def _score_pending_round(scorer: ReviewScorer, batch_size: int) -> list[ClaimedReview]:
    reviews = await run_in_threadpool(scorer.claim_pending, batch_size)
    if reviews:
        stored = await scorer.score(reviews)
        logger.info("background scorer stored %d of %d", len(stored), len(reviews))
    return reviews


def _log_failed_round(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    pause_s = retry_state.upcoming_sleep
    if isinstance(error, ModelServiceError):
        logger.warning("model service unavailable (%s); next try in %.1f s", error, pause_s)
    else:
        logger.error("background scorer round failed; next try in %.1f s", pause_s, exc_info=error)
