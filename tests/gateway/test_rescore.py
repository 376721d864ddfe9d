"""`python -m gateway.rescore` on PostgreSQL with a real model service: outdated reviews only."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select, text

from gateway.database import create_db_engine, create_session_factory, utcnow
from gateway.migrate import upgrade_database
from gateway.movies.models import Movie
from gateway.rescore import rescore
from gateway.reviews import claims
from gateway.reviews.models import Review
from gateway.scoring.client import ModelServiceClient
from gateway.settings import Settings
from tests.gateway.factories import predict

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
OLD_MODEL = "korean-sentiment:19990101-old"
OLD_STARS = 1.23  # the old model's rating of every review it scored


@pytest.fixture
def database_url(postgres) -> str:
    url = postgres.create_database(f"rescore_{uuid.uuid4().hex[:8]}")
    engine = create_db_engine(Settings(database_url=url))
    upgrade_database(engine, wait_s=10)
    engine.dispose()
    return url


def seed(database_url: str, served_model: str) -> dict[str, list[int]]:
    """Five reviews of an old model, one of the served model, one pending; their ids by kind."""
    engine = create_db_engine(Settings(database_url=database_url))
    with create_session_factory(engine)() as session:
        movie = Movie(title="올드보이")
        session.add(movie)
        session.flush()

        def review(content: str, model: str | None) -> Review:
            scored = predict("neutral", model, stars=OLD_STARS) if model else None
            return Review(
                movie_id=movie.id,
                author="a",
                content=content,
                status="scored" if scored else "pending",
                sentiment_label=scored and scored.label,
                sentiment_score=scored and scored.confidence,
                positivity=scored and scored.positivity,
                probabilities=scored and scored.probabilities,
                stars=scored and scored.stars,
                sentiment_model=model,
            )

        kinds = {
            "outdated": [review(f"예전 모델이 본 리뷰 {n}", OLD_MODEL) for n in range(5)],
            "current": [review("지금 모델이 본 리뷰", served_model)],
            "pending": [review("아직 점수 없는 리뷰", None)],
        }
        session.add_all([r for reviews in kinds.values() for r in reviews])
        session.commit()
        ids = {kind: [r.id for r in reviews] for kind, reviews in kinds.items()}
    engine.dispose()
    return ids


def run_rescore(database_url: str, model_service_url: str, *args: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "MODEL_SERVICE_URL": model_service_url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.rescore", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def reviews(database_url: str) -> dict[int, Review]:
    engine = create_db_engine(Settings(database_url=database_url))
    with create_session_factory(engine)() as session:
        found = {review.id: review for review in session.scalars(select(Review))}
    engine.dispose()
    return found


def test_rescore_takes_outdated_reviews_in_batches_and_resumes(database_url, model_service_url):
    served_model = httpx.post(f"{model_service_url}/model", json={}, timeout=30).json()["model"]
    ids = seed(database_url, served_model)

    first = run_rescore(database_url, model_service_url, "--batch-size", "2", "--limit", "3")
    rest = run_rescore(database_url, model_service_url, "--batch-size", "2")
    nothing_left = run_rescore(database_url, model_service_url, "--dry-run")

    assert first == {
        "served_model": served_model,
        "outdated_before": 5,
        "rescored": 3,
        "outdated_after": 2,
        "seconds": first["seconds"],
    }
    assert (rest["outdated_before"], rest["rescored"], rest["outdated_after"]) == (2, 2, 0)
    assert nothing_left == {"served_model": served_model, "outdated_before": 0, "rescored": 0}

    after = reviews(database_url)
    outdated = [after[review_id] for review_id in ids["outdated"]]
    predictions = httpx.post(
        f"{model_service_url}/classify",
        json={"texts": [review.content for review in outdated]},
        timeout=30,
    ).json()["predictions"]
    for review, prediction in zip(outdated, predictions, strict=True):
        assert (review.status, review.sentiment_model) == ("scored", served_model)
        assert review.probabilities == prediction["probabilities"]
        assert review.stars == prediction.get("stars")  # rewritten with the label
    [current] = ids["current"]
    assert after[current].probabilities == predict("neutral").probabilities  # left alone
    assert after[current].stars == OLD_STARS
    [pending] = ids["pending"]
    assert after[pending].status == "pending"


RESCORE_LOG = """
CREATE TABLE rescored (review_id integer NOT NULL, model text NOT NULL);
CREATE FUNCTION log_rescore() RETURNS trigger AS $$
BEGIN
    IF NEW.sentiment_model IS DISTINCT FROM OLD.sentiment_model THEN
        INSERT INTO rescored VALUES (NEW.id, NEW.sentiment_model);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER log_rescore AFTER UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION log_rescore();
"""


def seed_outdated(database_url: str, count: int) -> list[int]:
    """`count` reviews an old model scored, and a trigger that logs every change of model tag."""
    engine = create_db_engine(Settings(database_url=database_url))
    old = predict("neutral", OLD_MODEL)
    with create_session_factory(engine)() as session:
        movie = Movie(title="살인의 추억")
        session.add(movie)
        session.flush()
        rows = [
            {"movie_id": movie.id, "author": "a", "content": f"예전 모델이 본 리뷰 {n}번",
             "status": "scored", "sentiment_label": old.label, "sentiment_score": old.confidence,
             "positivity": old.positivity, "probabilities": old.probabilities,
             "sentiment_model": OLD_MODEL}
            for n in range(count)
        ]  # fmt: skip
        ids = list(session.scalars(insert(Review).returning(Review.id), rows))
        session.execute(text(RESCORE_LOG))
        session.commit()
    engine.dispose()
    return sorted(ids)


def rescores_logged(database_url: str) -> Counter:
    engine = create_db_engine(Settings(database_url=database_url))
    with engine.connect() as connection:
        logged = Counter(connection.scalars(text("SELECT review_id FROM rescored")))
    engine.dispose()
    return logged


def test_three_copies_split_the_work_and_a_killed_one_is_made_good(database_url, model_service_url):
    served_model = httpx.post(f"{model_service_url}/model", json={}, timeout=30).json()["model"]
    ids = seed_outdated(database_url, 3000)
    # A killed copy's claims lapse in seconds.
    lease = {
        "SCORER_LEASE_S": "4",
        "SCORING_TIMEOUT_S": "2",
        "MODEL_SERVICE_CONNECT_TIMEOUT_S": "1",
    }
    env = {**os.environ, "DATABASE_URL": database_url, "MODEL_SERVICE_URL": model_service_url}
    command = [sys.executable, "-m", "gateway.rescore", "--batch-size", "10"]
    copies = [
        subprocess.Popen(
            command, cwd=REPO_ROOT, env=env | lease, stdout=subprocess.PIPE, text=True,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]  # fmt: skip
    deadline = time.monotonic() + 120
    while sum(rescores_logged(database_url).values()) < 300:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    killed = copies[0]
    assert killed.poll() is None, "the copy finished before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    summaries = [json.loads(copy.communicate(timeout=180)[0]) for copy in copies[1:]]
    rerun = run_rescore(database_url, model_service_url)

    logged = rescores_logged(database_url)
    assert sorted(logged) == ids  # none skipped
    assert set(logged.values()) == {1}  # none twice
    assert all(s["outdated_after"] == 0 for s in summaries)
    assert rerun["outdated_before"] == 0
    after = reviews(database_url)
    assert {(r.sentiment_model, r.claim_token) for r in after.values()} == {(served_model, None)}


def test_a_claim_that_lapses_as_the_copy_looks_elsewhere_is_still_taken(
    database_url, model_service_url, monkeypatch
):
    """Another copy's claim lapses between this copy's claim (which passed it over) and its count
    of what others hold: the review is taken, not left outdated."""
    ids = seed_outdated(database_url, 1)
    engine = create_db_engine(Settings(database_url=database_url))
    session_factory = create_session_factory(engine)
    with session_factory() as session:
        claims.claim_outdated(
            session=session, served_model="", scored_before=utcnow(), limit=1, lease_s=-1
        )  # a copy that died, its lease already over
    claim_outdated = claims.claim_outdated
    calls = []

    def claim_after_the_lapse(**kwargs):
        calls.append(kwargs)
        return [] if len(calls) == 1 else claim_outdated(**kwargs)  # the first ran before it

    monkeypatch.setattr(claims, "claim_outdated", claim_after_the_lapse)
    model_service = ModelServiceClient.connect(
        model_service_url, None, timeout_s=30, connect_timeout_s=5
    )

    async def run() -> dict:
        try:
            return await rescore(
                session_factory, model_service, batch_size=10, limit=None, dry_run=False,
                poll_s=0.01,
            )  # fmt: skip
        finally:
            await model_service.aclose()

    summary = asyncio.run(run())
    engine.dispose()

    assert (summary["rescored"], summary["outdated_after"]) == (1, 0)
    assert sorted(rescores_logged(database_url)) == ids
