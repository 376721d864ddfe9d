"""POST /reviews/ in process: the text goes to the model service while the review is being stored.

The model service is a stand-in and the insert is held, because these tests are about the order
of the request's two waits; test_api runs the same path against a real model service.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
import pytest

from gateway.main import create_app
from gateway.reviews import service as review_service
from gateway.reviews.models import Review
from gateway.scoring.client import ModelServiceError, Prediction
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS, MACHINE_KEY
from stack.ports import free_port
from tests.gateway.factories import predict
from tests.support.asgi import TestClient


class StandInModelService:
    """Scores every text negative and records each call; fails every call while `down`."""

    def __init__(self, *, down: bool = False) -> None:
        self.asked = threading.Event()
        self.calls: list[list[str]] = []
        self.down = down

    async def classify(self, texts: list[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        self.asked.set()
        if self.down:
            raise ModelServiceError("the model service is unreachable")
        return [predict("negative") for _ in texts]


class HeldInsert:
    """Wraps the reviews' insert so that it finishes only once `release` is set; records the size
    of each group it was given."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[int] = []
        self._insert = review_service.create_many

    def __call__(self, **kwargs):
        self.groups.append(len(kwargs["new_reviews"]))
        self.entered.set()
        assert self.release.wait(10), "the insert was never released"
        return self._insert(**kwargs)


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch) -> Iterator[tuple[TestClient, HeldInsert]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        model_service_url=f"http://127.0.0.1:{free_port()}",
        scorer_enabled=False,
        gateway_api_keys=MACHINE_KEY,
        secret_key="a-test-signing-key-of-32-characters",
    )
    app = create_app(settings)
    held = HeldInsert()
    monkeypatch.setattr(review_service, "create_many", held)
    with TestClient(app, headers=MACHINE_HEADERS) as client:
        yield client, held
    held.release.set()


def post_review_aside(client: TestClient, movie_id: int) -> tuple[threading.Thread, list]:
    """POST a review in a thread of its own (its insert is held); the response lands in the list."""
    responses: list = []
    body = {"movie_id": movie_id, "author": "관객", "content": "배우들 연기가 아쉬웠다"}
    thread = threading.Thread(target=lambda: responses.append(client.post("/reviews/", json=body)))
    thread.start()
    return thread, responses


def movie_id(client: TestClient) -> int:
    response = client.post("/movies/", json={"title": "영화"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_text_is_scored_while_the_review_is_stored_and_the_score_stored_after(gateway):
    client, held = gateway
    model_service = StandInModelService()
    client.app.state.scorer.classifier = model_service

    thread, responses = post_review_aside(client, movie_id(client))
    asked_before_the_insert_finished = model_service.asked.wait(5)
    held.release.set()
    thread.join(10)

    assert asked_before_the_insert_finished
    assert model_service.calls == [["배우들 연기가 아쉬웠다"]]
    [response] = responses
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["sentiment_label"]) == (
        "scored",
        "negative",
    )
    stored = client.get(f"/reviews/{response.json()['id']}").json()
    assert (stored["status"], stored["sentiment_label"]) == ("scored", "negative")


def test_a_review_whose_model_call_failed_meanwhile_is_stored_pending(gateway):
    client, held = gateway
    client.app.state.scorer.classifier = StandInModelService(down=True)

    thread, responses = post_review_aside(client, movie_id(client))
    held.release.set()
    thread.join(10)

    [response] = responses
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["sentiment_label"]) == ("pending", None)
    with client.app.state.session_factory() as session:
        review = session.get(Review, response.json()["id"])
        # Its claim is given up at once, so the background scorer can take it.
        assert (review.status, review.claim_token) == ("pending", None)


def test_a_review_of_a_missing_movie_is_404_and_its_score_is_not_stored(gateway):
    client, held = gateway
    model_service = StandInModelService()
    client.app.state.scorer.classifier = model_service
    held.release.set()

    response = client.post(
        "/reviews/", json={"movie_id": 999, "author": "관객", "content": "배우들 연기가 아쉬웠다"}
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Movie not found"}
    assert client.get("/reviews/").json() == []


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "a-key"}], ids=["no key", "key"])
def test_a_post_hands_only_its_two_grouped_writes_to_worker_threads(gateway, monkeypatch, headers):
    # FastAPI runs a plain `def` dependency in its thread pool: a hand-off there and back per
    # request each, which cost the gateway about a quarter of its CPU per review (docs/benchmarks).
    client, held = gateway
    client.app.state.scorer.classifier = StandInModelService()
    held.release.set()
    body = {"movie_id": movie_id(client), "author": "관객", "content": "배우들 연기가 아쉬웠다"}
    handed: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def recorded(func, *args, **kwargs):
        handed.append(getattr(func, "func", func).__name__)  # run_in_threadpool sends a partial
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", recorded)
    response = client.post("/reviews/", json=body, headers=headers)

    assert response.status_code == 201, response.text
    assert handed == ["insert", "_store_groups"]


def test_retries_that_wait_for_the_same_insert_get_the_first_review(gateway):
    # The first post's insert is held: its retries queue meanwhile, and go in one group together.
    client, held = gateway
    client.app.state.scorer.classifier = StandInModelService()
    key = {"Idempotency-Key": "retried-key"}
    body = {"movie_id": movie_id(client), "author": "관객", "content": "배우들 연기가 아쉬웠다"}

    def post():
        return client.post("/reviews/", json=body, headers=key)

    with ThreadPoolExecutor(max_workers=11) as pool:
        first = pool.submit(post)
        assert held.entered.wait(5)
        retries = [pool.submit(post) for _ in range(10)]
        while client.app.state.review_inserts.waiting < len(retries):
            time.sleep(0.01)
        held.release.set()
        answers = [first.result(10), *(retry.result(10) for retry in retries)]

    assert {answer.status_code for answer in answers} == {201}
    assert {answer.json()["id"] for answer in answers} == {answers[0].json()["id"]}
    assert [answer.headers.get("Idempotent-Replayed") for answer in answers] == [None] + [
        "true"
    ] * 10
    assert held.groups == [1, 10]
    assert len(client.get("/reviews/").json()) == 1
