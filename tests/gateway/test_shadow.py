"""A candidate model in shadow, on PostgreSQL with real model services that disagree: its
predictions stored for every live score, compared with the live ones, and never in the way."""

import contextlib
import http.server
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from gateway.database import create_db_engine, create_session_factory
from gateway.reviews.models import Review
from gateway.rollout.models import CandidatePrediction
from gateway.rollout.shadow import store_candidate_predictions
from gateway.settings import Settings
from stack.parts import GatewayProcess
from stack.ports import free_port
from tests.gateway.factories import add_pending, predict

pytestmark = pytest.mark.integration

# Writes carry a machine client's key, as they will once writes need a signed-in user.
API_KEY = "shadow-test-key"
TEXTS = [
    "정말 재밌는 영화였어요",
    "돈 아깝다 최악",
    "그냥 그랬다 보통",
    "배우 연기가 최고",
    "너무 지루했다",
]


@contextlib.contextmanager
def shadowed_gateway(
    postgres, model_service_url: str, candidate_url: str, **env: str
) -> Iterator[tuple[httpx.Client, str]]:
    """A gateway with `candidate_url` in shadow on a fresh database: its client and the URL."""
    database_url = postgres.create_database(f"shadow_{uuid.uuid4().hex[:8]}")
    wiring = {"GATEWAY_API_KEYS": API_KEY, "SHADOW_MODEL_SERVICE_URL": candidate_url, **env}
    with (
        GatewayProcess(database_url, model_service_url, wiring) as gateway,
        httpx.Client(base_url=gateway.url, headers={"X-API-Key": API_KEY}, timeout=30) as api,
    ):
        yield api, database_url


def post_review(api: httpx.Client, movie_id: int, content: str) -> dict:
    response = api.post("/reviews/", json={"movie_id": movie_id, "author": "a", "content": content})
    assert response.status_code == 201, response.text
    return response.json()


def rows(database_url: str) -> tuple[dict[int, Review], dict[int, CandidatePrediction]]:
    """Every review, and every candidate prediction by review id."""
    engine = create_db_engine(Settings(database_url=database_url))
    with create_session_factory(engine)() as session:
        reviews = {review.id: review for review in session.scalars(select(Review))}
        candidates = {c.review_id: c for c in session.scalars(select(CandidatePrediction))}
    engine.dispose()
    return reviews, candidates


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def metric(api: httpx.Client, name: str, **labels: str) -> float:
    """A sample's value from the gateway's /metrics (0 when absent)."""
    text = api.get("/metrics").text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def classify(url: str, texts: list[str]) -> list[dict]:
    return httpx.post(f"{url}/classify", json={"texts": texts}, timeout=30).json()["predictions"]


def expected_comparison(reviews: dict[int, Review], candidates: dict[int, CandidatePrediction]):
    """The comparison computed directly from the rows, in Python."""
    both = [(reviews[rid], c) for rid, c in candidates.items() if reviews[rid].status == "scored"]
    confusion: dict[str, Counter] = {}
    for review, c in both:
        confusion.setdefault(review.sentiment_label, Counter())[c.label] += 1
    by_movie: dict[int, list] = {}
    for review, c in both:
        by_movie.setdefault(review.movie_id, []).append((review.positivity, c.positivity))
    shifts = {
        movie_id: sum(cand for _, cand in pairs) / len(pairs)
        - sum(live for live, _ in pairs) / len(pairs)
        for movie_id, pairs in by_movie.items()
    }
    rated = [(r.stars, c.stars) for r, c in both if r.stars is not None and c.stars is not None]
    return {
        "n": len(both),
        "stars": {
            "n": len(rated),
            "live": sum(live for live, _ in rated) / len(rated),
            "candidate": sum(cand for _, cand in rated) / len(rated),
            "mean_absolute_difference": sum(abs(c - r) for r, c in rated) / len(rated),
        },
        "agreement": sum(r.sentiment_label == c.label for r, c in both) / len(both),
        "confusion": {live: dict(counts) for live, counts in confusion.items()},
        "mean_positivity": {
            "live": sum(r.positivity for r, _ in both) / len(both),
            "candidate": sum(c.positivity for _, c in both) / len(both),
        },
        "shifts": shifts,
    }


def test_shadow_predictions_are_stored_for_creates_edits_and_background_scoring(
    postgres, model_service_url, candidate_service_url, tiny_model_tag, candidate_model_tag
):
    with shadowed_gateway(postgres, model_service_url, candidate_service_url) as (api, db_url):
        movies = [api.post("/movies/", json={"title": t}).json()["id"] for t in ("괴물", "마더")]
        created = [post_review(api, movies[n % 2], text) for n, text in enumerate(TEXTS)]
        edited = api.patch(f"/reviews/{created[0]['id']}", json={"content": "다시 보니 별로다"})
        assert edited.status_code == 200
        engine = create_db_engine(Settings(database_url=db_url))
        with create_session_factory(engine)() as session:  # left for the background scorer
            session.add_all(Review(movie_id=movies[1], author="b", content=t) for t in TEXTS[:3])
            session.commit()
        engine.dispose()

        def shadow_caught_up() -> bool:
            reviews, candidates = rows(db_url)
            if set(candidates) != set(reviews) or {r.status for r in reviews.values()} != {
                "scored"
            }:
                return False
            ids = sorted(reviews)
            expected = classify(candidate_service_url, [reviews[i].content for i in ids])
            return all(
                candidates[i].probabilities == p["probabilities"]
                for i, p in zip(ids, expected, strict=True)
            )

        wait_for(shadow_caught_up)
        reviews, candidates = rows(db_url)
        assert len(reviews) == len(TEXTS) + 3
        ids = sorted(reviews)
        candidate_says = classify(candidate_service_url, [reviews[i].content for i in ids])
        assert [candidates[i].stars for i in ids] == [p.get("stars") for p in candidate_says]
        assert {c.model_tag for c in candidates.values()} == {candidate_model_tag}
        assert {r.sentiment_model for r in reviews.values()} == {tiny_model_tag}
        # Shown scores stay the live model's.
        listed = api.get("/reviews/", params={"limit": 100}).json()
        assert {r["sentiment_model"] for r in listed} == {tiny_model_tag}

        comparison = api.get("/models/comparison").json()
        expected = expected_comparison(reviews, candidates)
        assert (comparison["live"], comparison["candidate"]) == (
            tiny_model_tag,
            candidate_model_tag,
        )
        assert comparison["n"] == expected["n"]
        assert comparison["agreement"] == pytest.approx(expected["agreement"])
        assert comparison["agreement"] < 1  # the candidate swaps positive and negative
        assert comparison["confusion"] == expected["confusion"]
        assert comparison["mean_positivity"] == pytest.approx(expected["mean_positivity"])
        assert comparison["stars"] == pytest.approx(expected["stars"])
        assert comparison["stars"]["n"] == expected["n"]  # both tiny models have a rating head
        assert {m["movie_id"]: m["shift"] for m in comparison["movies"]} == pytest.approx(
            expected["shifts"]
        )
        assert all(d["live_label"] != d["candidate_label"] for d in comparison["disagreements"])
        assert metric(
            api, "gateway_model_agreement", live=tiny_model_tag, candidate=candidate_model_tag
        ) == pytest.approx(expected["agreement"])

        models = api.get("/models").json()
        assert (models["live"]["tag"], models["candidate"]["tag"]) == (
            tiny_model_tag,
            candidate_model_tag,
        )
        assert models["live"]["labels"] == ["negative", "neutral", "positive"]
        assert models["reviews_by_model"] == {tiny_model_tag: len(reviews)}
        assert models["candidate_predictions_by_model"] == {candidate_model_tag: len(reviews)}

        # The edited review's first text was scored in shadow too: one more stored than kept.
        assert metric(api, "gateway_shadow_predictions_total", outcome="stored") == len(reviews) + 1
        assert metric(api, "gateway_shadow_predictions_total", outcome="dropped") == 0
        live_counted = sum(
            metric(api, "gateway_predictions_total", model=tiny_model_tag, label=label)
            for label in ("negative", "neutral", "positive")
        )
        assert live_counted == len(reviews) + 1

        unknown = api.get("/models/comparison", params={"candidate": "korean-sentiment:nope"})
        assert unknown.status_code == 404
        assert "korean-sentiment:nope" in unknown.json()["detail"]
        for not_a_tag in ("korean-sentiment:\x00", "<script>", "a:b:c"):
            refused = api.get("/models/comparison", params={"candidate": not_a_tag})
            assert refused.status_code == 422, (not_a_tag, refused.text)
            assert refused.json()["detail"].startswith("candidate:")

        assert api.delete(f"/reviews/{created[1]['id']}").status_code == 200
        assert api.delete(f"/movies/{movies[1]}").status_code == 200
        reviews, candidates = rows(db_url)
        assert set(candidates) == set(reviews) == {r["id"] for r in created[::2]}


def test_a_candidates_stars_are_stored_and_a_newer_prediction_replaces_them(session_factory):
    first, second = add_pending(session_factory, 2)

    def store(*scored: tuple[int, float | None]) -> dict[int, float | None]:
        """Store the candidate's stars for these reviews; every review's candidate stars."""
        with session_factory() as session:
            store_candidate_predictions(
                session=session,
                scored=[(rid, predict(model="m:candidate", stars=stars)) for rid, stars in scored],
            )
            session.commit()
            return dict(
                session.execute(
                    select(CandidatePrediction.review_id, CandidatePrediction.stars)
                ).all()
            )

    assert store((first, 7.25), (second, None)) == {first: 7.25, second: None}
    # Each review edited: the new text's prediction replaces the old one, stars and all.
    assert store((first, None), (second, 1.5)) == {first: None, second: 1.5}


class _Answers500(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(500)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"boom!")

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def failing_candidate(kind: str) -> Iterator[str]:
    """A candidate that is dead (nothing listens), hangs (accepts, never answers) or answers 500."""
    if kind == "dead":
        yield f"http://127.0.0.1:{free_port()}"
    elif kind == "hanging":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.listen(128)  # connections queue up in the backlog, never answered
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers500)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("kind", ["dead", "hanging", "answers 500"])
def test_a_failing_candidate_never_touches_live_writes(postgres, model_service_url, kind):
    with (
        failing_candidate(kind) as candidate_url,
        shadowed_gateway(postgres, model_service_url, candidate_url, SHADOW_TIMEOUT_S="1") as (
            api,
            db_url,
        ),
    ):
        movie = api.post("/movies/", json={"title": "정전"}).json()["id"]
        posted = [post_review(api, movie, text) for text in TEXTS]

        assert {review["status"] for review in posted} == {"scored"}
        wait_for(
            lambda: metric(api, "gateway_shadow_predictions_total", outcome="failed") == len(TEXTS)
        )
        assert metric(api, "gateway_shadow_predictions_total", outcome="stored") == 0
        assert rows(db_url)[1] == {}
        assert api.get("/health").json()["status"] == "ok"


def test_the_shadow_queue_bound_holds_under_a_burst(postgres, model_service_url):
    burst = 40
    with (
        failing_candidate("hanging") as candidate_url,
        shadowed_gateway(
            postgres, model_service_url, candidate_url, SHADOW_QUEUE_SIZE="2", SHADOW_TIMEOUT_S="60"
        ) as (api, _),
    ):
        movie = api.post("/movies/", json={"title": "폭주"}).json()["id"]
        with ThreadPoolExecutor(8) as pool:
            posted = list(
                pool.map(lambda n: post_review(api, movie, f"리뷰 폭주 {n}번"), range(burst))
            )

        assert {review["status"] for review in posted} == {"scored"}
        dropped = metric(api, "gateway_shadow_predictions_total", outcome="dropped")
        # The candidate hangs: beyond the call it holds and the two queued, every text is dropped.
        assert dropped > 0
        assert metric(api, "gateway_shadow_predictions_total", outcome="stored") == 0
