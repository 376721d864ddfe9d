"""Claims on reviews: disjoint between scorers, lapsing with their lease, stored all-or-nothing."""

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.database import utcnow
from gateway.reviews import claims as scoring
from gateway.reviews import service as review_service
from gateway.reviews.models import Review
from gateway.reviews.schemas import ReviewUpdate
from gateway.scoring.client import Prediction
from tests.gateway.factories import LEASE_S, add_pending, claim, predict


def store(session_factory, claimed, predictions=None) -> list[int]:
    """The ids of the reviews stored, from what store_predictions returned."""
    with session_factory() as session:
        stored = scoring.store_predictions(
            session=session, reviews=claimed, predictions=predictions or [predict()] * len(claimed)
        )
    return [review.id for review in stored if review is not None]


def reviews_by_id(session_factory) -> dict[int, Review]:
    with session_factory() as session:
        return {review.id: review for review in session.scalars(select(Review))}


def test_claims_take_the_oldest_pending_reviews_once(session_factory):
    ids = add_pending(session_factory, 5)

    first, second, third = (
        claim(session_factory, 3),
        claim(session_factory, 3),
        claim(session_factory),
    )

    assert [review.id for review in first] == ids[:3]
    assert [review.id for review in second] == ids[3:]
    assert third == []
    assert first[0].content == "리뷰 번호 0"


def test_stored_scores_end_the_claim_and_leave_the_queue(session_factory):
    [review_id] = add_pending(session_factory, 1)
    claimed = claim(session_factory)

    stored = store(session_factory, claimed, [predict("negative")])

    assert stored == [review_id]

    review = reviews_by_id(session_factory)[review_id]
    assert (review.status, review.sentiment_label, review.sentiment_score) == (
        "scored",
        "negative",
        0.1,
    )
    assert review.positivity == 0.75
    assert review.probabilities == {"negative": 0.1, "neutral": 0.3, "positive": 0.6}
    assert review.sentiment_model == "korean-sentiment:new"
    assert review.claim_token is None and review.scored_at is not None
    assert claim(session_factory) == []


def test_a_group_stores_each_review_its_own_score_and_only_where_its_claim_stands(
    session_factory,
):
    add_pending(session_factory, 3)
    first, replaced, last = claim(session_factory)
    replaced = dataclasses.replace(replaced, claim_token="another-scorer")
    predictions = [
        predict("negative", "m:0"),
        predict("neutral", "m:1"),
        predict("positive", "m:2"),
    ]

    with session_factory() as session:
        stored = scoring.store_predictions(
            session=session, reviews=[first, replaced, last], predictions=predictions
        )

    # One answer per review, in the order given, None where the claim did not stand.
    assert [(r.id, r.sentiment_label) if r else None for r in stored] == [
        (first.id, "negative"),
        None,
        (last.id, "positive"),
    ]
    rows = reviews_by_id(session_factory)
    assert [
        (rows[r.id].status, rows[r.id].sentiment_label, rows[r.id].sentiment_model)
        for r in (first, replaced, last)
    ] == [("scored", "negative", "m:0"), ("pending", None, None), ("scored", "positive", "m:2")]
    assert rows[last.id].probabilities == {"negative": 0.1, "neutral": 0.3, "positive": 0.6}


@pytest.mark.parametrize(
    "stars", [(8.4, None, 10.0), (None, None)], ids=["some-without", "none-with"]
)
def test_a_group_stores_each_review_its_own_stars_and_null_where_the_model_gave_none(
    session_factory, stars
):
    # A group where no review has stars sends a column of NULLs, which must still be a number.
    add_pending(session_factory, len(stars))
    claimed = claim(session_factory)

    with session_factory() as session:
        stored = scoring.store_predictions(
            session=session,
            reviews=claimed,
            predictions=[predict(stars=value) for value in stars],
        )

    assert [review.stars for review in stored] == list(stars)  # as RETURNING answers them
    rows = reviews_by_id(session_factory)
    assert [rows[review.id].stars for review in claimed] == list(stars)


def test_stars_out_of_range_are_refused_by_the_database_and_the_batch_stores_nothing(
    session_factory,
):
    add_pending(session_factory, 2)
    claimed = claim(session_factory)
    # Past the model client's check (which refuses them first), the CHECK constraint holds.
    broken = Prediction.model_construct(**{**predict().model_dump(), "stars": 42.0})

    with pytest.raises(IntegrityError):
        store(session_factory, claimed, [predict(stars=8.0), broken])

    rows = reviews_by_id(session_factory).values()
    assert {(review.status, review.stars) for review in rows} == {("pending", None)}


def test_in_one_group_only_the_claim_that_stands_hears_its_review_stored(session_factory):
    add_pending(session_factory, 1)
    [stalled] = claim(session_factory, lease_s=0.0)
    [taken_over] = claim(session_factory)

    with session_factory() as session:
        stored = scoring.store_predictions(
            session=session,
            reviews=[stalled, taken_over],
            predictions=[predict("negative", "m:stale"), predict("positive", "m:current")],
        )

    assert stored[0] is None
    assert (stored[1].id, stored[1].sentiment_model) == (taken_over.id, "m:current")
    assert reviews_by_id(session_factory)[taken_over.id].sentiment_model == "m:current"


def test_a_lapsed_claim_passes_to_another_scorer_and_the_late_write_is_dropped(session_factory):
    add_pending(session_factory, 2)
    stalled = claim(session_factory, lease_s=0.0)  # its lease lapses at once

    taken_over = claim(session_factory)

    assert [r.id for r in taken_over] == [r.id for r in stalled]
    assert store(session_factory, stalled) == []
    assert store(session_factory, taken_over) == [r.id for r in taken_over]


def test_released_reviews_are_free_again_now_or_after_the_delay(session_factory):
    add_pending(session_factory, 2)
    now_free, later_free = claim(session_factory)

    with session_factory() as session:
        scoring.release(session=session, reviews=[now_free])
        scoring.release(session=session, reviews=[later_free], retry_after_s=3600)

    assert [review.id for review in claim(session_factory)] == [now_free.id]


def test_new_content_replaces_the_claim_so_the_old_text_score_is_dropped(session_factory):
    [review_id] = add_pending(session_factory, 1)
    scoring_old_text = claim(session_factory)

    edit = scoring.new_claim(LEASE_S)
    with session_factory() as session:
        review = session.get(Review, review_id)
        review_in = ReviewUpdate(content="완전히 다른 새 내용")
        assert review_service.update_(
            session=session, review=review, review_in=review_in, claim=edit
        )

    assert store(session_factory, scoring_old_text) == []
    edited = [
        scoring.ClaimedReview(id=review_id, content="완전히 다른 새 내용", claim_token=edit.token)
    ]
    assert store(session_factory, edited) == [review_id]


def test_new_content_clears_the_old_texts_stars_until_it_is_scored_again(session_factory):
    [review_id] = add_pending(session_factory, 1)
    store(session_factory, claim(session_factory), [predict(stars=9.5)])

    edit = scoring.new_claim(LEASE_S)
    with session_factory() as session:
        review = session.get(Review, review_id)
        review_service.update_(
            session=session,
            review=review,
            review_in=ReviewUpdate(content="새로 쓴 내용"),
            claim=edit,
        )
    pending = reviews_by_id(session_factory)[review_id]
    edited = [scoring.ClaimedReview(id=review_id, content="새로 쓴 내용", claim_token=edit.token)]
    store(session_factory, edited, [predict(stars=2.25)])

    assert (pending.status, pending.stars) == ("pending", None)
    assert reviews_by_id(session_factory)[review_id].stars == 2.25


def test_a_batch_that_fails_midway_stores_nothing(session_factory):
    add_pending(session_factory, 3)
    claimed = claim(session_factory)
    # The third prediction breaks a CHECK constraint after two rows were already updated.
    broken = Prediction.model_construct(**{**predict().model_dump(), "label": "great"})

    with pytest.raises(IntegrityError):
        store(session_factory, claimed, [predict(), predict(), broken])

    assert {review.status for review in reviews_by_id(session_factory).values()} == {"pending"}


def test_outdated_claims_take_reviews_another_model_scored_before_the_run(session_factory):
    ids = add_pending(session_factory, 4)
    before_scoring = utcnow()
    claimed = claim(session_factory)
    store(session_factory, claimed, [predict(model="old:1")] * 3 + [predict(model="new:2")])
    run_began = utcnow()

    def outdated(scored_before) -> list[int]:
        with session_factory() as session:
            taken = scoring.claim_outdated(
                session=session,
                served_model="new:2",
                scored_before=scored_before,
                limit=10,
                lease_s=LEASE_S,
            )
        return [review.id for review in taken]

    assert outdated(before_scoring) == []  # scored since: not this run's to take again
    assert outdated(run_began) == ids[:3]
    assert outdated(run_began) == []  # claimed already


def test_concurrent_scorers_never_claim_the_same_review(session_factory):
    ids = add_pending(session_factory, 60)
    start = threading.Barrier(4)

    def scorer() -> list[int]:
        start.wait()
        taken = []
        while batch := claim(session_factory, limit=4):
            taken += [review.id for review in batch]
        return taken

    with ThreadPoolExecutor(4) as pool:
        claimed_by_each = list(pool.map(lambda _: scorer(), range(4)))

    every_claim = [review_id for taken in claimed_by_each for review_id in taken]
    assert sorted(every_claim) == ids
