"""The model-service client: what it sends, and how each kind of failure becomes ModelServiceError.

The transport is httpx's MockTransport because these tests are about the client's handling of
answers a healthy service rarely gives; the real service is exercised by the integration tests.
"""

import asyncio
import json
import time

import httpx
import jwt
import pytest
from pydantic import SecretStr

from gateway.scoring.client import ModelServiceClient, ModelServiceError
from gateway.scoring.id_tokens import REFRESH_MARGIN_S, IdTokenAuth, IdTokens
from gateway.settings import Settings


def prediction(label: str = "positive", model: str = "korean-sentiment:1") -> dict:
    probabilities = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    return {
        "label": label,
        "confidence": probabilities[label],
        "probabilities": probabilities,
        "positivity": 0.8,
        "model": model,
        "truncated": False,
    }


# Stars are a number from 1 to 10 or null: anything else is a broken answer, never coerced.
BAD_STARS = [42, 0.5, 10.01, -1, "x", "8.4", True, float("nan"), [8], {"stars": 8}]


def call(handler, method: str, *args, token: str | None = None):
    settings = Settings(
        model_service_url="http://model",
        model_service_token=SecretStr(token) if token else None,
    )
    client = ModelServiceClient.from_settings(settings, transport=httpx.MockTransport(handler))

    async def run():
        try:
            return await getattr(client, method)(*args)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_classify_sends_the_texts_and_returns_predictions_in_order():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"] = request.url.path
        seen["body"] = json.loads(request.content)
        seen["auth"] = request.headers.get("authorization")
        return httpx.Response(
            200, json={"predictions": [prediction("negative"), prediction("positive")]}
        )

    predictions = call(handler, "classify", ["별로", "최고"], token="s3cret")

    assert seen == {
        "path": "/classify",
        "body": {"texts": ["별로", "최고"]},
        "auth": "Bearer s3cret",
    }
    assert [p.label for p in predictions] == ["negative", "positive"]
    assert predictions[0].model == "korean-sentiment:1"


def test_stars_are_read_as_sent_and_missing_or_null_reads_as_none():
    # An older model service sends no `stars` key; a bundle without a rating head sends null.
    older = {key: value for key, value in prediction().items() if key != "stars"}
    answers = [{**prediction(), "stars": 8.37}, {**prediction(), "stars": 1}, older]
    answers.append({**prediction(), "stars": None})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"predictions": answers})

    predictions = call(handler, "classify", ["a", "b", "c", "d"])

    assert [p.stars for p in predictions] == [8.37, 1.0, None, None]


@pytest.mark.parametrize(
    ("status", "refused"), [(400, True), (422, True), (401, False), (429, False), (503, False)]
)
def test_error_statuses_raise_and_only_input_errors_count_as_refused(status, refused):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "no"})

    with pytest.raises(ModelServiceError) as raised:
        call(handler, "classify", ["text"])
    assert raised.value.status_code == status
    assert raised.value.input_refused is refused


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")], ids=["down", "slow"]
)
def test_transport_failures_raise_model_service_error(failure):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(ModelServiceError) as raised:
        call(handler, "classify", ["text"])
    assert raised.value.status_code is None
    assert not raised.value.input_refused


@pytest.mark.parametrize(
    "body",
    [
        {"predictions": [prediction()]},  # one prediction for two texts
        {"predictions": [prediction(), {**prediction(), "label": "great"}]},
        {"unexpected": True},
        *({"predictions": [prediction(), {**prediction(), "stars": bad}]} for bad in BAD_STARS),
    ],
    ids=["count", "label", "shape", *(f"stars={bad!r}" for bad in BAD_STARS)],
)
def test_answers_that_break_the_contract_raise(body):
    def handler(request: httpx.Request) -> httpx.Response:
        # json.dumps writes NaN as Python's json module reads it (httpx's json= refuses NaN).
        return httpx.Response(200, content=json.dumps(body).encode())

    with pytest.raises(ModelServiceError):
        call(handler, "classify", ["a", "b"])


def test_served_model_reads_the_description_endpoint():
    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/model")
        return httpx.Response(200, json={"model": "korean-sentiment:20261121-ab12cd", "labels": []})

    assert call(handler, "served_model") == "korean-sentiment:20261121-ab12cd"


def test_is_ready_follows_readyz():
    def ready(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200 if request.url.path == "/readyz" else 404)

    def loading(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    assert call(ready, "is_ready") is True
    assert call(loading, "is_ready") is False


def id_token(expires_at: float) -> str:
    return jwt.encode(
        {"aud": "http://model", "exp": int(expires_at)}, "google-signs-these", "HS256"
    )


def test_with_google_id_tokens_each_call_carries_one_fetched_for_the_service_url(monkeypatch):
    import google.oauth2.id_token

    audiences: list[str] = []
    token = id_token(time.time() + 3600)

    def fetch_id_token(request, audience):
        audiences.append(audience)
        return token

    monkeypatch.setattr(google.oauth2.id_token, "fetch_id_token", fetch_id_token)
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={"predictions": [prediction()]})

    settings = Settings(
        model_service_url="http://model",
        model_service_auth="google-id-token",
        model_service_token=SecretStr("the-static-token-is-not-sent"),
    )
    client = ModelServiceClient.from_settings(settings, transport=httpx.MockTransport(handler))

    async def run():
        try:
            for _ in range(3):
                await client.classify(["좋다"])
        finally:
            await client.aclose()

    asyncio.run(run())
    assert seen == [f"Bearer {token}"] * 3
    assert audiences == ["http://model"]  # fetched once, for the model service's URL


def test_an_id_token_is_fetched_again_before_it_expires() -> None:
    now = [1_000_000.0]
    fetched: list[str] = []

    def fetch(audience: str) -> str:
        fetched.append(id_token(now[0] + 3600))
        return fetched[-1]

    tokens = IdTokens("http://model", fetch=fetch, clock=lambda: now[0])
    first = tokens.fresh() or tokens.refresh()
    now[0] += 3600 - REFRESH_MARGIN_S - 1
    assert tokens.fresh() == first  # still more than the margin to live
    now[0] += 2
    assert tokens.fresh() is None
    assert tokens.refresh() != first and len(fetched) == 2


def test_no_id_token_is_a_model_service_error_not_a_crash() -> None:
    def fetch(audience: str) -> str:
        raise RuntimeError("no metadata server here")

    settings = Settings(model_service_url="http://model", model_service_auth="google-id-token")
    client = ModelServiceClient.from_settings(
        settings, transport=httpx.MockTransport(lambda request: httpx.Response(200))
    )
    client._http.auth = IdTokenAuth(IdTokens("http://model", fetch=fetch))

    async def run():
        try:
            await client.classify(["좋다"])
        finally:
            await client.aclose()

    with pytest.raises(ModelServiceError, match="no ID token"):
        asyncio.run(run())
