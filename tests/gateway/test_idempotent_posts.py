"""POST /reviews/ and POST /movies/ with an Idempotency-Key: the header checked and documented in
process, then retries through two real gateway processes on one PostgreSQL (sequential,
concurrent, from a client that gave up midway), with the database read back.
"""

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update

from gateway.database import create_db_engine, utcnow
from gateway.idempotency import service as idempotency
from gateway.idempotency.models import IdempotencyKey
from gateway.main import create_app
from gateway.movies.models import Movie
from gateway.reviews.models import Review
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS, MACHINE_KEY, GatewayProcess
from stack.ports import free_port
from tests.support.asgi import TestClient

KEY_REUSED = (
    "Idempotency-Key: was first used for a different request (another body or route); "
    "send a new key with a new request"
)
REPLAYED = "Idempotent-Replayed"


def keyed(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or str(uuid.uuid4())}


def review_body(movie_id: int, content: str = "다시 봐도 좋은 영화였다") -> dict:
    return {"movie_id": movie_id, "author": "관객", "content": content}


# --- In process, on SQLite: the header's rules and its documentation -------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        model_service_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: reviews pending
        scorer_enabled=False,
        gateway_api_keys=MACHINE_KEY,
        secret_key="a-test-signing-key-of-32-characters",
    )
    with TestClient(create_app(settings), headers=MACHINE_HEADERS) as client:
        yield client


def local_movie(client: TestClient) -> int:
    response = client.post("/movies/", json={"title": "괴물"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ('""', "must not be empty"),
        ("k" * 256, "must be at most 255 characters"),
        ("a\x01b", "must be printable ASCII, without control characters"),
        ("a\tb", "must be printable ASCII, without control characters"),
        ("키", "must be printable ASCII, without control characters"),
    ],
    ids=["empty", "empty-quoted", "too-long", "control", "tab", "not-ascii"],
)
def test_a_malformed_key_is_refused_saying_what_is_wrong(local, value, message):
    movie_id = local_movie(local)
    header = {"Idempotency-Key": value.encode("utf-8")}

    review = local.post("/reviews/", json=review_body(movie_id), headers=header)
    movie = local.post("/movies/", json={"title": "괴물 2"}, headers=header)

    for response in (review, movie):
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"Idempotency-Key: {message}")
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert local.get("/reviews/").json() == []
    assert [movie["title"] for movie in local.get("/movies/").json()] == ["괴물"]


def test_a_quoted_key_as_the_ietf_draft_writes_it_is_the_same_key_bare(local):
    body = review_body(local_movie(local))

    bare = local.post("/reviews/", json=body, headers={"Idempotency-Key": "key-1"})
    quoted = local.post("/reviews/", json=body, headers={"Idempotency-Key": '"key-1"'})
    longest = local.post("/reviews/", json=body, headers={"Idempotency-Key": "k" * 255})

    assert (bare.status_code, quoted.status_code, longest.status_code) == (201, 201, 201)
    assert quoted.json()["id"] == bare.json()["id"] and quoted.headers[REPLAYED] == "true"
    assert len(local.get("/reviews/").json()) == 2


def test_without_a_key_every_post_is_a_new_review(local):
    body = review_body(local_movie(local))

    answers = [local.post("/reviews/", json=body) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert REPLAYED not in answers[1].headers


def test_a_taken_key_whose_first_answer_is_unreadable_is_409_not_500(local, monkeypatch):
    body, key = review_body(local_movie(local)), keyed()
    assert local.post("/reviews/", json=body, headers=key).status_code == 201
    monkeypatch.setattr(idempotency, "earlier", lambda *_args: {})

    retry = local.post("/reviews/", json=body, headers=key)

    assert retry.status_code == 409
    assert "retry" in retry.json()["detail"]


def test_the_openapi_document_describes_the_key_on_both_create_routes(local):
    paths = local.get("/openapi.json").json()["paths"]

    for operation in (paths["/reviews/"]["post"], paths["/movies/"]["post"]):
        [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert (header["in"], header["required"]) == ("header", False)
        assert "retry" in header["description"] and "422" in header["description"]
        assert REPLAYED in operation["responses"]["201"]["headers"]
        assert "deleted" in operation["responses"]["409"]["description"]


# --- Real gateway processes on PostgreSQL ------------------------------------------------------


@dataclass
class TwoGateways:
    """Two gateway processes on one PostgreSQL database, and that database."""

    urls: tuple[str, str]
    engine: Engine

    def rows(self, movie_id: int) -> list[int]:
        with self.engine.connect() as connection:
            query = select(Review.id).where(Review.movie_id == movie_id).order_by(Review.id)
            return list(connection.scalars(query))

    def waiting_for_locks(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )


@pytest.fixture(scope="module")
def gateways(postgres, model_service_url) -> Iterator[TwoGateways]:
    database_url = postgres.create_database(f"idempotent_{uuid.uuid4().hex[:8]}")
    # One after the other: the first has migrated the database when the second starts.
    with (
        GatewayProcess(database_url, model_service_url) as first,
        GatewayProcess(database_url, model_service_url) as second,
    ):
        engine = create_db_engine(Settings(database_url=database_url))
        yield TwoGateways((first.url, second.url), engine)
        engine.dispose()


def post(url: str, path: str, body: dict, headers: dict, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers={**MACHINE_HEADERS, **headers},
                      timeout=timeout)  # fmt: skip


def new_movie(url: str) -> int:
    response = post(url, "/movies/", {"title": "살인의 추억"}, {})
    assert response.status_code == 201, response.text
    return response.json()["id"]


class MovieLocked:
    """Holds the movie's row FOR UPDATE: a review's insert waits on it (its foreign key check)
    until released, as behind a long transaction."""

    def __init__(self, gateways: TwoGateways, movie_id: int) -> None:
        self.connection = gateways.engine.connect()
        self.connection.execute(
            text("SELECT id FROM movies WHERE id = :id FOR UPDATE"), {"id": movie_id}
        )

    def __enter__(self) -> "MovieLocked":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.rollback()
        self.connection.close()


def until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.integration
def test_a_retry_gets_the_first_status_and_id_and_stores_nothing(gateways):
    url = gateways.urls[0]
    movie_id, key = new_movie(url), keyed()

    first = post(url, "/reviews/", review_body(movie_id), key)
    retry = post(url, "/reviews/", review_body(movie_id), key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert REPLAYED not in first.headers and retry.headers[REPLAYED] == "true"
    assert retry.json()["id"] == first.json()["id"]
    # The review as it is now: scored by the first request before it answered.
    assert retry.json() == httpx.get(f"{url}/reviews/{first.json()['id']}").json()
    assert gateways.rows(movie_id) == [first.json()["id"]]


@pytest.mark.integration
def test_twenty_retries_at_once_through_two_gateways_store_one_review(gateways):
    movie_id, key = new_movie(gateways.urls[0]), keyed()

    with ThreadPoolExecutor(max_workers=20) as pool, MovieLocked(gateways, movie_id):
        answers = [
            pool.submit(post, gateways.urls[n % 2], "/reviews/", review_body(movie_id), key)
            for n in range(20)
        ]
        # Each gateway's group waits on the lock; released, their transactions race for the key.
        until(lambda: gateways.waiting_for_locks() >= 2, "both gateways' inserts never waited")
    answers = [answer.result(30) for answer in answers]

    assert [answer.status_code for answer in answers] == [201] * 20
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sum(REPLAYED in answer.headers for answer in answers) == 19
    assert gateways.rows(movie_id) == [answers[0].json()["id"]]


@pytest.mark.integration
def test_a_client_that_gave_up_midway_gets_its_review_when_it_retries(gateways):
    movie_id, key = new_movie(gateways.urls[0]), keyed()

    with ThreadPoolExecutor(max_workers=1) as pool, MovieLocked(gateways, movie_id):
        with pytest.raises(httpx.ReadTimeout):
            post(gateways.urls[0], "/reviews/", review_body(movie_id), key, timeout=0.5)
        # Its request is still in the first gateway; the client retries through the other.
        retry = pool.submit(post, gateways.urls[1], "/reviews/", review_body(movie_id), key)
        until(lambda: gateways.waiting_for_locks() >= 2, "the retry never reached its insert")
    retry = retry.result(30)

    assert retry.status_code == 201, retry.text
    until(lambda: len(gateways.rows(movie_id)) > 0, "the given-up request stored nothing")
    time.sleep(0.5)  # time for the given-up request's insert, had it stored a second review
    assert gateways.rows(movie_id) == [retry.json()["id"]]


@pytest.mark.integration
def test_the_same_key_with_another_body_is_422_and_stores_nothing(gateways):
    url = gateways.urls[0]
    movie_id, key = new_movie(url), keyed()
    first = post(url, "/reviews/", review_body(movie_id), key)

    other = post(url, "/reviews/", review_body(movie_id, "생각이 바뀌었다, 별로다"), key)
    other_route = post(url, "/movies/", {"title": "다른 요청"}, key)

    assert first.status_code == 201
    for refused in (other, other_route):
        assert refused.status_code == 422
        assert refused.json()["detail"] == KEY_REUSED
    assert gateways.rows(movie_id) == [first.json()["id"]]


@pytest.mark.integration
def test_an_expired_key_is_new_again(gateways):
    url = gateways.urls[0]
    movie_id, key = new_movie(url), keyed()
    first = post(url, "/reviews/", review_body(movie_id), key)
    with gateways.engine.begin() as connection:  # time-travel: the key expired a second ago
        connection.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key["Idempotency-Key"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    again = post(url, "/reviews/", review_body(movie_id), key)

    assert again.status_code == 201 and REPLAYED not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert gateways.rows(movie_id) == [first.json()["id"], again.json()["id"]]


def account(url: str, name: str) -> dict[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
    body = {"email": email, "password": "a long enough password", "display_name": name}
    assert httpx.post(f"{url}/auth/register", json=body).status_code == 201
    token = httpx.post(f"{url}/auth/token", data={"username": email, "password": body["password"]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.integration
def test_a_key_is_its_callers_own(gateways):
    url = gateways.urls[0]
    movie_id, key = new_movie(url), keyed()
    callers = [account(url, "관객"), account(url, "다른관객"), MACHINE_HEADERS]

    answers = [
        httpx.post(f"{url}/reviews/", json=review_body(movie_id), headers={**caller, **key},
                   timeout=30)
        for caller in callers
    ]  # fmt: skip

    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert len({answer.json()["id"] for answer in answers}) == 3
    assert not any(REPLAYED in answer.headers for answer in answers)
    with gateways.engine.connect() as connection:
        owners = connection.scalars(
            select(IdempotencyKey.caller).where(IdempotencyKey.key == key["Idempotency-Key"])
        ).all()
    assert sorted(owners) == sorted(
        [f"user:{answers[0].json()['user_id']}", f"user:{answers[1].json()['user_id']}", "key:0"]
    )


@pytest.mark.integration
def test_a_retried_movie_is_created_once_and_once_deleted_is_409(gateways):
    url = gateways.urls[0]
    key, body = keyed(), {"title": "마더", "director": "봉준호"}

    first = post(url, "/movies/", body, key)
    retry = post(gateways.urls[1], "/movies/", body, key)
    assert httpx.delete(f"{url}/movies/{first.json()['id']}", headers=MACHINE_HEADERS).is_success
    after_delete = post(url, "/movies/", body, key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry.headers[REPLAYED] == "true"
    assert after_delete.status_code == 409
    assert after_delete.json()["detail"] == (
        "The movie first created with this Idempotency-Key has since been deleted"
    )
    with gateways.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(Movie.title == "마더")) == 0
