"""Stars as model services send them: a number, null (no rating head), no key at all (a service
older than the field), or a value out of contract; what the gateway stores, shows and averages.

The gateway runs in process on SQLite and PostgreSQL, its model client answered by httpx's
MockTransport, because these tests are about answers the tiny model never gives; test_api posts
through a real model service.
"""

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from gateway.main import create_app
from gateway.reviews.models import Review
from gateway.reviews.scorer import ReviewScorer
from gateway.scoring.client import ModelServiceClient, ModelServiceError
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS, MACHINE_KEY
from tests.gateway.factories import add_pending, claim
from tests.support.asgi import TestClient

MISSING = object()  # the answer has no `stars` key


class ModelService:
    """Answers each text with the stars `stars[text]` names (MISSING: no key)."""

    def __init__(self) -> None:
        self.stars: dict[str, object] = {}

    def answer(self, request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["texts"]
        return httpx.Response(200, json={"predictions": [self.prediction(t) for t in texts]})

    def prediction(self, text: str) -> dict:
        prediction = {
            "label": "positive",
            "confidence": 0.6,
            "probabilities": {"negative": 0.1, "neutral": 0.3, "positive": 0.6},
            "positivity": 0.75,
            "model": "korean-sentiment:stars",
        }
        stars = self.stars.get(text, MISSING)
        return prediction if stars is MISSING else {**prediction, "stars": stars}

    def client(self) -> ModelServiceClient:
        transport = httpx.MockTransport(self.answer)
        return ModelServiceClient(
            httpx.AsyncClient(base_url="http://model", transport=transport), probe_timeout_s=1
        )


@pytest.fixture
def model_service() -> ModelService:
    return ModelService()


@pytest.fixture
def api(session_factory, model_service) -> Iterator[TestClient]:
    """The gateway on this module's database, its scorer asking `model_service`."""
    url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
    settings = Settings(
        database_url=url,
        model_service_url="http://model",
        scorer_enabled=False,  # a review left pending stays so
        gateway_api_keys=MACHINE_KEY,
        secret_key="a-test-signing-key-of-32-characters",
    )
    with TestClient(create_app(settings), headers=MACHINE_HEADERS) as client:
        client.app.state.scorer.classifier = model_service.client()
        yield client


def post(api: TestClient, movie_id: int, content: str) -> dict:
    response = api.post("/reviews/", json={"movie_id": movie_id, "content": content, "author": "a"})
    assert response.status_code == 201, response.text
    return response.json()


def new_movie(api: TestClient) -> int:
    response = api.post("/movies/", json={"title": "별점"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def rating(api: TestClient, movie_id: int) -> dict:
    return api.get(f"/reviews/movie/{movie_id}/rating").json()


def test_each_review_shows_its_stars_and_the_movie_their_mean_over_the_reviews_with_stars(
    api, model_service
):
    model_service.stars = {"별 여덟 개 줌": 8.0, "별 세 개 반": 3.5, "별점 없는 리뷰": None}
    movie_id = new_movie(api)

    reviews = [
        post(api, movie_id, text) for text in ("별 여덟 개 줌", "별 세 개 반", "별점 없는 리뷰")
    ]
    reviews.append(post(api, movie_id, "예전 모델 서비스"))  # its answer has no stars key

    assert [review["status"] for review in reviews] == ["scored"] * 4
    assert [review["stars"] for review in reviews] == [8.0, 3.5, None, None]
    assert [api.get(f"/reviews/{review['id']}").json() for review in reviews] == reviews
    movie_rating = rating(api, movie_id)
    # Reviews without stars are left out, not counted as 0 (which would make it 2.875).
    assert (movie_rating["average_stars"], movie_rating["stars_count"]) == (5.75, 2)
    assert (movie_rating["scored_count"], movie_rating["average_score"]) == (4, 0.75)


def test_a_movie_whose_reviews_have_no_stars_has_null_average_stars(api, model_service):
    model_service.stars = {"별점 없는 리뷰": None}
    movie_id = new_movie(api)
    post(api, movie_id, "별점 없는 리뷰")
    post(api, movie_id, "예전 모델 서비스")

    movie_rating = rating(api, movie_id)

    assert (movie_rating["average_stars"], movie_rating["stars_count"]) == (None, 0)
    assert movie_rating["scored_count"] == 2


def stored(session_factory) -> list[tuple]:
    with session_factory() as session:
        rows = session.scalars(select(Review).order_by(Review.id))
        return [(r.status, r.sentiment_label, r.stars, r.claim_token) for r in rows]


@pytest.mark.parametrize("stars", [42, "x"])
def test_stars_out_of_contract_are_a_model_failure_and_the_review_stays_pending(
    api, model_service, session_factory, stars
):
    model_service.stars = {"이상한 별점": stars}
    movie_id = new_movie(api)

    review = post(api, movie_id, "이상한 별점")

    assert (review["status"], review["sentiment_label"], review["stars"]) == ("pending", None, None)
    # Nothing of the answer is stored, and the claim is given up for the background scorer.
    assert stored(session_factory) == [("pending", None, None, None)]
    movie_rating = rating(api, movie_id)
    assert (movie_rating["scored_count"], movie_rating["average_stars"]) == (0, None)


def test_the_background_scorer_stores_nothing_of_an_answer_with_bad_stars(
    session_factory, model_service
):
    add_pending(session_factory, 2)
    model_service.stars = {"리뷰 번호 0": 7.5, "리뷰 번호 1": 11}  # one bad value spoils the answer
    scorer = ReviewScorer(session_factory, model_service.client(), lease_s=60, reject_delay_s=3600)

    with pytest.raises(ModelServiceError, match="unexpected answer"):
        asyncio.run(scorer.score(claim(session_factory)))

    assert stored(session_factory) == [("pending", None, None, None)] * 2
