"""The review scorer and its background loop, over a stand-in model service.

The stand-in is a plain object because these tests are about what the scorer does with each kind
of answer (refusals, outages, recovery); the real service is exercised by the integration tests.
"""

import asyncio

import pytest
from sqlalchemy import event, select

from gateway.reviews.models import Review
from gateway.reviews.scorer import ReviewScorer, run_background_scorer
from gateway.scoring.client import ModelServiceError, Prediction
from tests.gateway.factories import add_pending, claim, predict


class StandInModelService:
    """Scores every text positive; refuses texts containing `refused`; down while `down` > 0."""

    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.calls: list[list[str]] = []

    async def classify(self, texts: list[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        if self.down:
            self.down -= 1
            raise ModelServiceError("the model service is unreachable")
        if any("refused" in text for text in texts):
            raise ModelServiceError("bad input", status_code=400)
        return [predict() for _ in texts]


def scorer_for(session_factory, model_service) -> ReviewScorer:
    return ReviewScorer(session_factory, model_service, lease_s=60, reject_delay_s=3600)


def statuses(session_factory) -> dict[int, tuple[str, str | None]]:
    with session_factory() as session:
        return {
            review.id: (review.status, review.claim_token)
            for review in session.scalars(select(Review))
        }


def test_a_refused_text_is_set_aside_and_the_rest_of_its_batch_is_scored(session_factory):
    ids = add_pending(session_factory, 3)
    with session_factory() as session:
        session.get(Review, ids[1]).content = "refused text"
        session.commit()
    model_service = StandInModelService()

    stored = asyncio.run(scorer_for(session_factory, model_service).score(claim(session_factory)))

    assert [review.id for review in stored] == [ids[0], ids[2]]
    assert statuses(session_factory) == {
        ids[0]: ("scored", None),
        ids[1]: ("pending", None),
        ids[2]: ("scored", None),
    }
    assert claim(session_factory) == []  # the refused review waits out its delay
    assert len(model_service.calls) == 4  # the batch, then each review on its own


def test_an_unavailable_service_leaves_the_reviews_pending_and_free(session_factory):
    ids = add_pending(session_factory, 2)
    scorer = scorer_for(session_factory, StandInModelService(down=1))

    with pytest.raises(ModelServiceError):
        asyncio.run(scorer.score(claim(session_factory)))

    assert statuses(session_factory) == {review_id: ("pending", None) for review_id in ids}
    assert [review.id for review in claim(session_factory)] == ids


def test_the_background_scorer_backs_off_then_scores_everything(session_factory):
    ids = add_pending(session_factory, 7)
    model_service = StandInModelService(down=3)
    scorer = scorer_for(session_factory, model_service)

    async def run_until_scored() -> None:
        loop = asyncio.create_task(
            run_background_scorer(scorer, batch_size=3, poll_interval_s=0.05, max_backoff_s=0.1)
        )
        try:
            for _ in range(200):
                if all(status == "scored" for status, _ in statuses(session_factory).values()):
                    return
                await asyncio.sleep(0.05)
        finally:
            loop.cancel()

    asyncio.run(run_until_scored())

    assert statuses(session_factory) == {review_id: ("scored", None) for review_id in ids}
    scored_batches = model_service.calls[3:]
    assert [len(batch) for batch in scored_batches] == [3, 3, 1]


def test_concurrent_calls_store_in_one_transaction_and_each_hears_its_own(session_factory):
    ids = add_pending(session_factory, 4)
    claims = [claim(session_factory, 1) for _ in ids]
    # The third review's claim was replaced meanwhile (an edit, or a lapsed lease): its late
    # score must be dropped, and only its caller hear nothing back.
    with session_factory() as session:
        session.get(Review, ids[2]).claim_token = "replaced"
        session.commit()
    scorer = scorer_for(session_factory, StandInModelService())
    commits = []

    def count_commit(connection) -> None:
        commits.append(connection)

    engine = session_factory.kw["bind"]
    event.listen(engine, "commit", count_commit)

    async def score_all():
        return await asyncio.gather(*(scorer.score(claimed) for claimed in claims))

    try:
        answers = asyncio.run(score_all())
    finally:
        event.remove(engine, "commit", count_commit)

    assert [[review.id for review in stored] for stored in answers] == [
        [ids[0]], [ids[1]], [], [ids[3]]
    ]  # fmt: skip
    assert 1 <= len(commits) < len(claims)  # the four calls' scores shared transactions
    assert statuses(session_factory)[ids[2]] == ("pending", "replaced")
