"""Write access to the gateway: machine API keys, the write limit, the body size limit, CORS.

The gateway app runs in process on a SQLite file with its model service away: these checks are
about who gets in, not about scoring.
"""

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from gateway.main import create_app
from gateway.settings import Settings
from stack.parts import GatewayProcess
from stack.ports import free_port
from tests.reliability.ledger import Ledger
from tests.support.asgi import TestClient

KEYS = ("ui-key-5b1f0c2e9d7a", "ops-key-8e3a6d4c1b0f")
UI = {"X-API-Key": KEYS[0]}
UI_ORIGIN = "http://ui.example:7860"


@contextlib.contextmanager
def gateway(tmp_path: Path, **overrides: object) -> Iterator[TestClient]:
    """The gateway app in process, on its own SQLite file, its model service unreachable."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        model_service_url=f"http://127.0.0.1:{free_port()}",
        scorer_enabled=False,
        secret_key="a-test-signing-key-of-32-characters",
        **{"gateway_api_keys": ",".join(KEYS), **overrides},
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[TestClient]:
    """A gateway that takes writes only with one of KEYS."""
    with gateway(tmp_path_factory.mktemp("keyed")) as client:
        yield client


@pytest.fixture(scope="module")
def review(keyed: TestClient) -> dict:
    headers = {"X-API-Key": KEYS[0]}
    movie = keyed.post("/movies/", json={"title": "살인의 추억"}, headers=headers).json()
    body = {"movie_id": movie["id"], "author": "관객", "content": "다시 봐도 좋은 영화"}
    return keyed.post("/reviews/", json=body, headers=headers).json()


def writes(review: dict) -> list[tuple[str, str, dict | None]]:
    """Every write route, each with a body it would accept."""
    movie, review_id = review["movie_id"], review["id"]
    return [
        ("POST", "/movies/", {"title": "마더"}),
        ("PATCH", f"/movies/{movie}", {"genre": "스릴러"}),
        ("DELETE", f"/movies/{movie}", None),
        ("POST", "/reviews/", {"movie_id": movie, "author": "a", "content": "리뷰 다섯 자"}),
        ("PATCH", f"/reviews/{review_id}", {"author": "b"}),
        ("DELETE", f"/reviews/{review_id}", None),
    ]


WRONG_CREDENTIALS = {
    "no key": {},
    "wrong X-API-Key": {"X-API-Key": "ui-key-000000000000"},
    "wrong bearer token": {"Authorization": "Bearer ops-key-000000000000"},
    "key as Basic credentials": {"Authorization": f"Basic {KEYS[0]}"},
    "key as a malformed token": {"Authorization": f"Bearer {KEYS[0]}.x.y"},
    "key prefix only": {"X-API-Key": KEYS[0][:-1]},
}


@pytest.mark.parametrize("credentials", WRONG_CREDENTIALS, ids=list(WRONG_CREDENTIALS))
def test_writes_without_a_valid_key_get_401_and_change_nothing(
    keyed: TestClient, review: dict, credentials: str, ledger: Ledger
) -> None:
    headers = WRONG_CREDENTIALS[credentials]
    before = keyed.get(f"/reviews/{review['id']}").json()

    responses = [
        keyed.request(method, path, json=body, headers=headers)
        for method, path, body in writes(review)
    ]
    ledger.refusal(f"write with {credentials}", "gateway", [r.status_code for r in responses],
                   expected="401")  # fmt: skip

    assert [response.status_code for response in responses] == [401] * len(responses)
    for response in responses:
        assert response.json()["detail"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert not any(key in response.text for key in KEYS)
    assert keyed.get(f"/reviews/{review['id']}").json() == before
    assert [movie["title"] for movie in keyed.get("/movies/").json()] == ["살인의 추억"]


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": KEYS[0]}, {"Authorization": f"Bearer {KEYS[1]}"}],
    ids=["X-API-Key", "bearer"],
)
def test_either_key_in_either_header_may_write(tmp_path: Path, headers: dict) -> None:
    with gateway(tmp_path) as client:
        movie = client.post("/movies/", json={"title": "괴물"}, headers=headers)
        body = {"movie_id": movie.json()["id"], "author": "a", "content": "한강에 괴물이 산다"}
        review = client.post("/reviews/", json=body, headers=headers)
        patched = client.patch(f"/reviews/{review.json()['id']}", json={"author": "b"},
                               headers=headers)  # fmt: skip
        deleted = client.delete(f"/movies/{movie.json()['id']}", headers=headers)

    statuses = [r.status_code for r in (movie, review, patched, deleted)]
    assert statuses == [201, 201, 200, 200]


@pytest.mark.parametrize(
    "path", ["/movies/", "/movies/{movie}", "/reviews/", "/reviews/{review}",
             "/reviews/movie/{movie}", "/reviews/movie/{movie}/rating", "/health",
             "/openapi.json"],
)  # fmt: skip
def test_reads_need_no_key(keyed: TestClient, review: dict, path: str) -> None:
    path = path.format(movie=review["movie_id"], review=review["id"])
    assert keyed.get(path).status_code == 200


def test_without_configured_keys_anonymous_writes_are_still_refused(tmp_path: Path) -> None:
    with gateway(tmp_path, gateway_api_keys="") as client:
        assert client.post("/movies/", json={"title": "올드보이"}).status_code == 401
        assert client.post("/movies/", json={"title": "올드보이"}, headers=UI).status_code == 401


def test_keys_come_comma_separated_from_the_environment_and_never_show(monkeypatch) -> None:
    monkeypatch.setenv("GATEWAY_API_KEYS", f" {KEYS[0]} ,{KEYS[1]},")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.gateway_api_keys] == list(KEYS)
    assert not any(key in repr(settings) or key in str(settings) for key in KEYS)


def test_writes_past_the_limit_get_429_with_retry_after(tmp_path: Path, ledger: Ledger) -> None:
    with gateway(tmp_path, gateway_write_limit="3/minute") as client:
        ops = {"X-API-Key": KEYS[1]}
        burst = [client.post("/movies/", json={"title": f"영화 {n}"}, headers=UI) for n in range(5)]
        other_client = client.post("/movies/", json={"title": "다른 클라이언트"}, headers=ops)
        read = client.get("/movies/")

    statuses = [response.status_code for response in burst]
    ledger.refusal("writes past the rate limit", "gateway", statuses[3:], expected="429")
    assert statuses == [201, 201, 201, 429, 429]
    refused = burst[3]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many writes" in refused.json()["detail"]
    assert other_client.status_code == 201
    assert read.status_code == 200
    assert len(read.json()) == 4


def test_refused_strangers_count_against_no_caller(tmp_path: Path) -> None:
    with gateway(tmp_path, gateway_write_limit="2/minute") as client:
        guesses = [client.post("/movies/", json={"title": "t"}, headers={"X-API-Key": f"guess{n}"})
                   for n in range(4)]  # fmt: skip
        owner = [client.post("/movies/", json={"title": "t"}, headers=UI) for _ in range(2)]
    assert [response.status_code for response in guesses] == [401] * 4
    assert [response.status_code for response in owner] == [201, 201]


def test_an_empty_limit_turns_it_off(tmp_path: Path) -> None:
    with gateway(tmp_path, gateway_write_limit="") as client:
        statuses = {
            client.post("/movies/", json={"title": "t"}, headers=UI).status_code for _ in range(5)
        }
    assert statuses == {201}


@pytest.mark.parametrize("limit", ["often", "5/fortnight", "-1/minute"])
def test_a_limit_that_does_not_parse_is_refused_at_start(limit: str) -> None:
    with pytest.raises(ValidationError, match="a limit reads like"):
        Settings(gateway_write_limit=limit)


def test_bodies_over_the_limit_get_413_declared_or_streamed(tmp_path: Path, ledger: Ledger) -> None:
    oversized = json.dumps({"title": "t", "padding": "x" * 70_000}).encode()

    def streamed() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        yield from (oversized[start : start + 8192] for start in range(0, len(oversized), 8192))

    headers = {"Content-Type": "application/json"}
    with gateway(tmp_path) as client:
        declared = client.post("/movies/", content=oversized, headers=headers)
        chunked = client.post("/movies/", content=streamed(), headers=headers)
        movies = client.get("/movies/").json()

    ledger.refusal("body over the 64 KiB limit", "gateway",
                   [declared.status_code, chunked.status_code], expected="413")  # fmt: skip
    assert (declared.status_code, chunked.status_code) == (413, 413)
    for response in (declared, chunked):
        assert response.json() == {
            "detail": "The request body is larger than the 65536 bytes the gateway accepts"
        }
    assert movies == []


def test_the_largest_review_fits_under_the_body_limit(tmp_path: Path) -> None:
    # 2000 characters outside the BMP, each \u-escaped as a surrogate pair: 12 bytes apiece.
    content = "🎬" * 2000
    with gateway(tmp_path) as client:
        movie = client.post("/movies/", json={"title": "t"}, headers=UI).json()
        body = json.dumps({"movie_id": movie["id"], "author": "🎞" * 100, "content": content})
        response = client.post("/reviews/", content=body.encode("ascii"),
                               headers={"Content-Type": "application/json", **UI})  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["content"] == content


def test_cors_answers_configured_origins_only(tmp_path: Path, ledger: Ledger) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-api-key"}  # fmt: skip
    with gateway(tmp_path, gateway_cors_origins=f"{UI_ORIGIN},https://moviegpt.example") as client:
        allowed = client.options("/reviews/", headers={"Origin": UI_ORIGIN, **preflight})
        foreign = client.options(
            "/reviews/", headers={"Origin": "http://evil.example", **preflight}
        )
        foreign_read = client.get("/movies/", headers={"Origin": "http://evil.example"})
        allowed_read = client.get("/movies/", headers={"Origin": UI_ORIGIN})

    ledger.refusal("CORS preflight from an unlisted origin", "gateway", [foreign.status_code],
                   expected="400")  # fmt: skip
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "x-api-key" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert foreign.status_code == 400
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "Access-Control-Allow-Origin" not in foreign_read.headers
    assert allowed_read.headers["Access-Control-Allow-Origin"] == UI_ORIGIN


def test_without_configured_origins_no_page_may_call(tmp_path: Path) -> None:
    with gateway(tmp_path) as client:
        read = client.get("/movies/", headers={"Origin": UI_ORIGIN})
    assert "Access-Control-Allow-Origin" not in read.headers


@pytest.mark.parametrize("origin", ["*", "http://ui.example/path", "ui.example"])
def test_origins_must_be_listed_one_by_one(origin: str) -> None:
    with pytest.raises(ValidationError, match="scheme://host"):
        Settings(gateway_cors_origins=origin)


@pytest.mark.integration
@pytest.mark.parametrize(("trusted", "separate_clients"), [("127.0.0.1", True), ("", False)])
def test_the_sign_in_limit_counts_forwarded_clients_only_behind_a_trusted_proxy(
    tmp_path: Path, trusted: str, separate_clients: bool
) -> None:
    """Behind Cloud Run's front end every request arrives from the proxy: trusted, its
    X-Forwarded-For names the client; untrusted, a client cannot dodge its limit with it."""
    env = {"GATEWAY_TRUSTED_PROXIES": trusted, "SIGN_IN_LIMIT_PER_CLIENT": "1/minute",
           "SCORER_ENABLED": "false"}  # fmt: skip
    database_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with GatewayProcess(database_url, f"http://127.0.0.1:{free_port()}", env=env) as server:
        statuses = [
            httpx.post(f"{server.url}/auth/token", data={"username": f"{n}@x", "password": "p"},
                       headers={"X-Forwarded-For": client}, timeout=10).status_code
            for n, client in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.1"))
        ]  # fmt: skip
    assert statuses == ([401, 401, 429] if separate_clients else [401, 429, 429])
