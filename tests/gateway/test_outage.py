"""The model service goes away: reviews are still accepted (pending) and scored once it is back."""

import time
import uuid

import httpx
import pytest
from sqlalchemy import select

from gateway.database import create_db_engine, create_session_factory
from gateway.reviews.models import Review
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS, GatewayProcess, ModelServiceProcess

pytestmark = pytest.mark.integration

REVIEWS = [f"정전 중에 쓴 리뷰 {n}번, 재미있었다" for n in range(8)]


def wait_until_scored(database_url: str, ids: list[int], timeout: float) -> dict[int, Review]:
    """Watch the database (no request to the gateway) until every review is scored."""
    engine = create_db_engine(Settings(database_url=database_url))
    session_factory = create_session_factory(engine)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with session_factory() as session:
                found = {r.id: r for r in session.scalars(select(Review).where(Review.id.in_(ids)))}
            if all(review.status == "scored" for review in found.values()):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"still pending after {timeout} s: {found}")
            time.sleep(0.3)
    finally:
        engine.dispose()


def test_reviews_posted_during_an_outage_are_scored_when_the_service_returns(
    postgres, tiny_bentoml_home, tiny_model_tag
):
    database_url = postgres.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    model_service = ModelServiceProcess(tiny_bentoml_home, tiny_model_tag)
    with (
        model_service,
        GatewayProcess(database_url, model_service.url) as gateway,
        httpx.Client(base_url=gateway.url, headers=MACHINE_HEADERS, timeout=30) as api,
    ):
        movie = api.post("/movies/", json={"title": "정전"}).json()
        model_service.stop()

        posted = [
            api.post("/reviews/", json={"movie_id": movie["id"], "author": "a", "content": text})
            for text in REVIEWS
        ]

        assert [response.status_code for response in posted] == [201] * len(REVIEWS)
        assert {response.json()["status"] for response in posted} == {"pending"}
        health = api.get("/health").json()
        assert (health["status"], health["pending_reviews"]) == ("degraded", len(REVIEWS))
        rating = api.get(f"/reviews/movie/{movie['id']}/rating").json()
        assert (rating["review_count"], rating["scored_count"]) == (len(REVIEWS), 0)

        model_service.start()
        ids = [response.json()["id"] for response in posted]
        scored = wait_until_scored(database_url, ids, timeout=60)

        assert {review.sentiment_model for review in scored.values()} == {tiny_model_tag}
        assert all(review.claim_token is None for review in scored.values())
        listed = api.get(f"/reviews/movie/{movie['id']}", params={"limit": 100}).json()
        assert sorted(review["id"] for review in listed) == sorted(ids)
        assert {review["status"] for review in listed} == {"scored"}
        rating = api.get(f"/reviews/movie/{movie['id']}/rating").json()
        assert (rating["review_count"], rating["scored_count"]) == (len(REVIEWS), len(REVIEWS))
        assert rating["average_score"] == pytest.approx(
            sum(review["positivity"] for review in listed) / len(REVIEWS)
        )
