"""Shadow scoring: the texts the live model scored also go to the candidate, off the request path.

`submit` only puts texts on a bounded queue and never waits, so the live path pays nothing for the
candidate. One worker sends what waits as one `/classify` call at a time (batched as live calls
are) and stores the predictions apart. A full queue drops new texts; a candidate that is down,
slow or answering errors loses that call's texts. Both are counted, neither is an error.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gateway.reviews.models import Review
from gateway.rollout.metrics import RolloutMetrics
from gateway.rollout.models import CandidatePrediction
from gateway.scoring.client import ModelServiceClient, Prediction

logger = logging.getLogger(__name__)

ReviewText = tuple[int, str]  # a review's id and the text the live model scored


class ShadowScorer:
    """Sends scored reviews' texts to the candidate model and stores its predictions."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        candidate: ModelServiceClient,
        metrics: RolloutMetrics,
        *,
        max_queue: int,
        max_texts: int,
    ) -> None:
        self.session_factory = session_factory
        self.candidate = candidate
        self.metrics = metrics
        self.max_texts = max_texts
        self.queue: asyncio.Queue[ReviewText] = asyncio.Queue(maxsize=max_queue)

    def submit(self, reviews: Sequence[ReviewText]) -> None:
        """Queue these texts for the candidate; those that do not fit are dropped and counted."""
        for review in reviews:
            try:
                self.queue.put_nowait(review)
            except asyncio.QueueFull:
                self.metrics.shadow.labels("dropped").inc()

    async def run(self) -> None:
        """Score what the queue holds, one call at a time, until cancelled."""
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_texts and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self.score(batch)

    async def score(self, batch: Sequence[ReviewText]) -> None:
        """One candidate call for `batch` and one transaction storing its predictions."""
        started = time.perf_counter()
        try:
            predictions = await self.candidate.classify([text for _, text in batch])
        except Exception as error:  # the candidate's failure must never reach the live path
            self.metrics.shadow.labels("failed").inc(len(batch))
            logger.warning("candidate model failed on %d text(s): %s", len(batch), error)
            return
        finally:
            self.metrics.shadow_latency.observe(time.perf_counter() - started)
        scored = [(review_id, p) for (review_id, _), p in zip(batch, predictions, strict=True)]
        try:
            stored = await run_in_threadpool(self._store, scored)
        except SQLAlchemyError as error:
            self.metrics.shadow.labels("failed").inc(len(batch))
            logger.warning("candidate predictions not stored: %s", error)
            return
        self.metrics.shadow.labels("stored").inc(len(stored))
        # A review deleted meanwhile has nothing to compare with: its prediction is not kept.
        self.metrics.shadow.labels("failed").inc(len(batch) - len(stored))
        self.metrics.count_predictions((p.model, p.label) for _, p in stored)

    def _store(self, scored: Sequence[tuple[int, Prediction]]) -> list[tuple[int, Prediction]]:
        with self.session_factory() as session:
            stored = store_candidate_predictions(session=session, scored=scored)
            session.commit()
        return stored


def store_candidate_predictions(
    *, session: Session, scored: Sequence[tuple[int, Prediction]]
) -> list[tuple[int, Prediction]]:
    """Upsert each review's candidate prediction (an edited review replaces its own); those of
    reviews that still exist, as stored."""
    existing = set(
        session.scalars(select(Review.id).where(Review.id.in_({rid for rid, _ in scored})))
    )
    # The latest prediction of a review wins, should a batch hold it twice.
    latest = {(p.model, rid): (rid, p) for rid, p in scored if rid in existing}
    if not latest:
        return []
    rows = [
        {
            "review_id": rid,
            "model_tag": p.model,
            "label": p.label,
            "probabilities": p.probabilities,
            "positivity": p.positivity,
            "stars": p.stars,
        }
        for rid, p in latest.values()
    ]
    upsert = _insert_for(session)(CandidatePrediction).values(rows)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["model_tag", "review_id"],
            set_={
                column: upsert.excluded[column]
                for column in ("label", "probabilities", "positivity", "stars", "created_at")
            },
        )
    )
    return list(latest.values())


def _insert_for(session: Session) -> Callable:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert
