"""The secrets end to end: a visitor writes through the UI's client with their own token, machine
clients with their keys, the gateway scores through the model service's bearer token, and no
secret shows up in any log.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.main import create_app
from gateway.settings import Settings as GatewaySettings
from stack.parts import GatewayProcess, ModelServiceProcess
from tests.reliability.ledger import Ledger
from tests.support.asgi import TestClient
from ui.client import GatewayClient, GatewayError

pytestmark = pytest.mark.integration

TOKEN = f"model-token-{uuid.uuid4().hex}"
UI_KEY = f"ui-key-{uuid.uuid4().hex}"
OPS_KEY = f"ops-key-{uuid.uuid4().hex}"
WRONG_KEY = f"ui-key-{uuid.uuid4().hex}"
VISITOR_PASSWORD = f"visitor-{uuid.uuid4().hex}"
SECRETS = {"model service token": TOKEN, "UI key": UI_KEY, "ops key": OPS_KEY,
           "wrong key sent": WRONG_KEY, "visitor's password": VISITOR_PASSWORD}  # fmt: skip


@dataclass
class GuardedStack:
    model_service: ModelServiceProcess
    gateway: GatewayProcess


@pytest.fixture(scope="module")
def stack(postgres, tiny_bentoml_home, tiny_model_tag) -> Iterator[GuardedStack]:
    """A model service that wants TOKEN, and a gateway that sends it and takes writes with a key."""
    # Access logs on in both: the log checks below must see every request line.
    model_service = ModelServiceProcess(tiny_bentoml_home, tiny_model_tag,
                                        env={"MODEL_SERVICE_TOKEN": TOKEN,
                                             "MODEL_SERVICE_ACCESS_LOG": "true"})  # fmt: skip
    env = {"MODEL_SERVICE_TOKEN": TOKEN, "GATEWAY_API_KEYS": f"{UI_KEY},{OPS_KEY}",
           "GATEWAY_ACCESS_LOG": "true"}  # fmt: skip
    database_url = postgres.create_database(f"guarded_{uuid.uuid4().hex[:8]}")
    with model_service, GatewayProcess(database_url, model_service.url, env=env) as gateway:
        yield GuardedStack(model_service, gateway)


def test_a_visitor_writes_with_their_token_and_reviews_are_scored_through_the_model_token(
    stack: GuardedStack, tiny_model_tag: str
) -> None:
    ops = GatewayClient(stack.gateway.url, api_key=OPS_KEY)
    ui = GatewayClient(stack.gateway.url)  # holds no key: the visitor's token goes per call
    try:
        movie = ops.create_movie({"title": "헤어질 결심"})
        email = f"{uuid.uuid4().hex[:8]}@example.org"
        ui.register(email=email, password=VISITOR_PASSWORD, display_name="관객")
        token = ui.sign_in(email=email, password=VISITOR_PASSWORD)
        review = ui.create_review(
            movie_id=movie["id"], content="마지막 장면이 오래 남는다", token=token
        )
    finally:
        ui.close()
        ops.close()

    assert review["status"] == "scored"
    assert review["sentiment_model"] == tiny_model_tag
    assert httpx.get(f"{stack.gateway.url}/health").json()["model"] == tiny_model_tag


def test_without_its_key_the_ui_reads_but_gets_a_readable_refusal_on_writes(
    stack: GuardedStack, ledger: Ledger
) -> None:
    ui = GatewayClient(stack.gateway.url, api_key=WRONG_KEY)
    try:
        movies = ui.list_movies()
        with pytest.raises(GatewayError) as refused:
            ui.create_movie({"title": "열쇠 없는 영화"})
    finally:
        ui.close()

    ledger.refusal("UI client write with a wrong key", "gateway", [refused.value.status_code],
                   expected="401")  # fmt: skip
    assert isinstance(movies, list)
    assert refused.value.status_code == 401
    assert "API key" in refused.value.detail


def test_the_model_service_refuses_callers_without_its_token(
    stack: GuardedStack, tmp_path: Path, ledger: Ledger
) -> None:
    url = stack.model_service.url
    direct = [
        httpx.post(f"{url}/classify", json={"texts": ["좋다"]}, headers=headers).status_code
        for headers in ({}, {"Authorization": f"Bearer {WRONG_KEY}"}, {"Authorization": TOKEN})
    ]
    # A gateway without the token still takes reviews; they wait, pending, for a gateway with it.
    tokenless = GatewaySettings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
                                model_service_url=url, scorer_enabled=False,
                                gateway_api_keys=OPS_KEY,
                                secret_key="a-test-signing-key-of-32-characters")  # fmt: skip
    with TestClient(create_app(tokenless), headers={"X-API-Key": OPS_KEY}) as gateway:
        movie = gateway.post("/movies/", json={"title": "토큰 없는 게이트웨이"}).json()
        body = {"movie_id": movie["id"], "author": "a", "content": "토큰 없이 보낸 리뷰"}
        review = gateway.post("/reviews/", json=body).json()
        health = gateway.get("/health").json()

    ledger.refusal("classify without the right bearer token", "model service", direct,
                   expected="401")  # fmt: skip
    assert direct == [401, 401, 401]
    assert review["status"] == "pending"
    assert (health["status"], health["model"]) == ("degraded", None)


def test_no_secret_reaches_a_log(stack: GuardedStack) -> None:
    url = stack.gateway.url
    for key in (WRONG_KEY, OPS_KEY):
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            movie = httpx.post(f"{url}/movies/", json={"title": "로그 확인"}, headers=headers)
            if movie.status_code == 201:
                body = {
                    "movie_id": movie.json()["id"],
                    "author": "a",
                    "content": "로그에 남을 리뷰",
                }
                httpx.post(f"{url}/reviews/", json=body, headers=headers, timeout=30)

    logs = {"gateway": stack.gateway.log_path, "model service": stack.model_service.log_path}
    texts = {
        name: path.read_text(encoding="utf-8", errors="replace") for name, path in logs.items()
    }
    assert 'POST /movies/ HTTP/1.1" 401' in texts["gateway"]  # refusals are logged ...
    assert 'POST /reviews/ HTTP/1.1" 201' in texts["gateway"]  # ... and so are writes
    leaks = [(secret, log) for secret, value in SECRETS.items() for log, text in texts.items()
             if value in text]  # fmt: skip
    assert leaks == []
