"""`python -m gateway` on the zero-setup SQLite default, with its model service not running."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from gateway.migrate import ALEMBIC_INI
from stack.parts import MACHINE_HEADERS, GatewayProcess
from stack.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("offline") / "state" / "moviegpt.db"


@pytest.fixture(scope="module")
def client(database_path) -> Iterator[httpx.Client]:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with (
        GatewayProcess(f"sqlite:///{database_path}", nothing_listens) as gateway,
        httpx.Client(base_url=gateway.url, headers=MACHINE_HEADERS, timeout=30) as client,
    ):
        yield client


def test_the_sqlite_file_is_created_and_migrated_at_start(client, database_path):
    with sqlite3.connect(database_path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version")
    assert {"movies", "reviews", "users", "candidate_predictions"} <= tables
    assert revision == ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def test_a_review_posted_while_the_model_service_is_down_is_stored_pending(client):
    movie = client.post("/movies/", json={"title": "살인의 추억"}).json()

    created = client.post(
        "/reviews/", json={"movie_id": movie["id"], "author": "민", "content": "  다시 봐도 좋다  "}
    )

    assert created.status_code == 201
    review = created.json()
    assert review["status"] == "pending"
    assert review["content"] == "다시 봐도 좋다"
    for field in ("sentiment_label", "sentiment_score", "positivity", "probabilities", "stars"):
        assert review[field] is None
    assert client.get(f"/reviews/{review['id']}").json() == review
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded",
        "database": "ok",
        "model_service": "unavailable",
        "model": None,
        "pending_reviews": 1,
    }
    rating = client.get(f"/reviews/movie/{movie['id']}/rating").json()
    assert (rating["review_count"], rating["scored_count"], rating["average_score"]) == (1, 0, None)


def test_validation_errors_name_each_field_without_echoing_the_input(client):
    movie = client.post("/movies/", json={"title": "마더"}).json()
    too_long = "가" * 2001

    # `author` is optional in the schema (accounts write under their name), so too long here.
    body = {"movie_id": movie["id"], "author": "작" * 101, "content": too_long}
    response = client.post("/reviews/", json=body)

    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == (
        "author: String should have at most 100 characters; "
        "content: String should have at most 2000 characters"
    )
    assert [error["field"] for error in body["errors"]] == ["author", "content"]
    assert too_long not in response.text
