"""Stars through real model services: the tiny model rates reviews, the same model built without a
rating head (as hub checkpoints come) gives null; a movie's average_stars leaves those out, and
rescoring by the headless model takes the old stars away with the old label; GET /models says
which of the two gives stars."""

import uuid

import httpx
import pytest
from sqlalchemy import select

from gateway.database import create_db_engine, create_session_factory
from gateway.reviews.models import Review
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS, GatewayProcess
from tests.gateway.test_rescore import run_rescore

pytestmark = pytest.mark.integration


def post_reviews(database_url: str, model_service_url: str, movie_id: int | None, texts) -> tuple:
    """The reviews a gateway scoring through `model_service_url` stored (a new movie's when
    `movie_id` is None), the movie's id and its rating once they are in."""
    with (
        GatewayProcess(database_url, model_service_url) as gateway,
        httpx.Client(base_url=gateway.url, headers=MACHINE_HEADERS, timeout=30) as api,
    ):
        if movie_id is None:
            movie_id = api.post("/movies/", json={"title": "괴물"}).json()["id"]
        reviews = [
            api.post("/reviews/", json={"movie_id": movie_id, "author": "a", "content": t}).json()
            for t in texts
        ]
        rating = api.get(f"/reviews/movie/{movie_id}/rating").json()
    return reviews, movie_id, rating


def test_reviews_a_model_without_stars_scored_are_left_out_of_the_average(
    postgres, model_service_url, headless_service_url
):
    database_url = postgres.create_database(f"stars_{uuid.uuid4().hex[:8]}")

    rated, movie_id, _ = post_reviews(
        database_url, model_service_url, None, ["최고의 영화였다", "시간이 아까웠다"]
    )
    unrated, _, rating = post_reviews(
        database_url, headless_service_url, movie_id, ["그럭저럭 볼만했다"]
    )

    assert {review["status"] for review in rated + unrated} == {"scored"}
    assert all(1 <= review["stars"] <= 10 for review in rated)
    assert unrated[0]["stars"] is None
    assert rating["scored_count"] == 3
    assert rating["stars_count"] == 2
    assert rating["average_stars"] == pytest.approx((rated[0]["stars"] + rated[1]["stars"]) / 2)


def test_rescoring_by_a_model_without_stars_clears_the_old_stars(
    postgres, model_service_url, headless_service_url
):
    database_url = postgres.create_database(f"stars_{uuid.uuid4().hex[:8]}")
    rated, _, _ = post_reviews(database_url, model_service_url, None, ["배우 연기가 훌륭했다"])
    assert rated[0]["stars"] is not None

    summary = run_rescore(database_url, headless_service_url)

    assert (summary["outdated_before"], summary["rescored"]) == (1, 1)
    engine = create_db_engine(Settings(database_url=database_url))
    with create_session_factory(engine)() as session:
        [review] = session.scalars(select(Review))
    engine.dispose()
    assert (review.sentiment_model, review.stars) == (summary["served_model"], None)


def test_the_models_overview_says_whether_the_live_model_gives_stars(
    postgres, model_service_url, headless_service_url
):
    database_url = postgres.create_database(f"stars_{uuid.uuid4().hex[:8]}")
    live = {}
    for url in (model_service_url, headless_service_url):
        with (
            GatewayProcess(database_url, url) as gateway,
            httpx.Client(base_url=gateway.url, timeout=30) as api,
        ):
            live[url] = api.get("/models").json()["live"]

    assert live[model_service_url]["stars"] is True
    assert live[headless_service_url]["stars"] is False
