"""The model service as it runs: a real `bentoml serve` subprocess on loopback, tiny model."""

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model_service.inference import SentimentModel
from scripts.bench.load import run_wrk, write_bodies
from stack.parts import ModelServiceProcess
from tests.model_service.bad_inputs import BAD_INPUTS, BadInput
from training.tiny import SAMPLE_REVIEWS

pytestmark = pytest.mark.integration

TOKEN = "test-token"


def _reviews(count: int = 64) -> list[str]:
    """Distinct reviews of many lengths. Every third runs past the tiny model's max tokens: the
    `truncated` flag depends on the text alone, so it shows exactly which text an answer is for."""
    texts = [text for text, _ in SAMPLE_REVIEWS]
    reviews = []
    for i in range(count):
        pair = f"{texts[i % len(texts)]} {texts[(i // len(texts) + 5) % len(texts)]}"
        reviews.append(" ".join([pair] * (12 if i % 3 == 0 else 1 + i % 4)))
    return reviews


def _classify(url: str, texts: list[str], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/classify", json={"texts": texts}, headers=headers, timeout=30)


async def _post_concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    """All bodies to /classify at once, over connections opened beforehand so they land together."""
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(client.get("/livez") for _ in bodies))
        return await asyncio.gather(*(client.post("/classify", json=body) for body in bodies))


def _single_text_bursts(url: str, texts: list[str]) -> list[httpx.Response]:
    return asyncio.run(_post_concurrently(url, [{"texts": [text]} for text in texts]))


def _batches(url: str) -> tuple[float, float]:
    """(batches run, batches of more than one request) for /classify, from /metrics."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    total = single = 0.0
    for family in text_string_to_metric_families(metrics):
        if family.name != "bentoml_service_adaptive_batch_size":
            continue
        for sample in family.samples:
            if sample.labels.get("method_name") != "classify":
                continue
            if sample.name.endswith("_count"):
                total += sample.value
            elif sample.name.endswith("_bucket") and float(sample.labels["le"]) == 1.0:
                single += sample.value
    return total, total - single


def _assert_same_answer(got: dict, expected: dict) -> None:
    """Exactly the answer the text gets alone: static INT8 makes results batch-independent."""
    assert got == expected


def test_concurrent_single_texts_are_batched_and_answered_as_alone(
    tiny_bentoml_home: Path, tiny_model_tag: str, tiny_bundle: Path, tmp_path: Path
) -> None:
    reviews = _reviews()
    # Each text's answer alone, from the inference module the service wraps.
    model = SentimentModel.load(tiny_bundle, model_tag=tiny_model_tag)
    alone = [model.predict([text])[0].to_dict() for text in reviews]
    assert any(answer["truncated"] for answer in alone)

    # A service of its own: BentoML's dispatcher learns from the traffic it has seen how long to
    # hold requests for a batch, and the shared service's sequential traffic teaches it not to.
    # Requests share a batch when they queue up behind a running one; the tiny model answers
    # faster than one Python client sends, so wrk keeps the service busy meanwhile (3 s).
    with ModelServiceProcess(tiny_bentoml_home, tiny_model_tag) as service:
        with _kept_busy(service.url, tmp_path):
            responses = _single_text_bursts(service.url, reviews)
        _, batched = _batches(service.url)

    assert [response.status_code for response in responses] == [200] * len(reviews)
    for response, expected in zip(responses, alone, strict=True):
        (got,) = response.json()["predictions"]
        _assert_same_answer(got, expected)
    assert batched > 0, "no batch of more than one request was formed"


@contextlib.contextmanager
def _kept_busy(url: str, tmp_path: Path) -> Iterator[None]:
    """wrk posting single texts over 32 connections for 3 s while the block runs in its middle."""
    bodies = write_bodies(({"texts": [text]} for text in _reviews(16)), tmp_path / "bodies.lua")
    with ThreadPoolExecutor(max_workers=1) as background:
        load = background.submit(run_wrk, f"{url}/classify", bodies, concurrency=32, duration_s=3)
        time.sleep(0.5)
        yield
        load.result()


def test_a_list_is_answered_in_order_as_its_texts_alone(model_service_url: str) -> None:
    reviews = _reviews(12)
    alone = [_classify(model_service_url, [text]).json()["predictions"][0] for text in reviews]
    together = _classify(model_service_url, reviews).json()["predictions"]
    assert len(together) == len(reviews)
    for got, expected in zip(together, alone, strict=True):
        _assert_same_answer(got, expected)


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda bad: bad.name)
def test_bad_input_gets_its_4xx(model_service_url: str, bad: BadInput) -> None:
    response = httpx.post(
        f"{model_service_url}/classify",
        content=bad.body.encode(),
        headers={"Content-Type": bad.content_type},
        timeout=30,
    )
    assert response.status_code == bad.status
    assert bad.message in json.dumps(response.json(), ensure_ascii=False)


def test_health_metrics_and_model_endpoints(model_service_url: str, tiny_model_tag: str) -> None:
    assert httpx.get(f"{model_service_url}/livez").status_code == 200
    assert httpx.get(f"{model_service_url}/readyz").status_code == 200
    assert "bentoml_service_adaptive_batch_size" in httpx.get(f"{model_service_url}/metrics").text
    described = httpx.post(f"{model_service_url}/model", timeout=30).json()
    assert described["model"] == tiny_model_tag
    # Reported by the worker that answered, from its patched dispatcher (model_service/dispatch).
    assert described["holds_lone_requests"] is False
    assert described["request_path_trimmed"] is True  # model_service/request_path
    assert described["stars"] is True  # the tiny bundle has a rating head
    (prediction,) = _classify(model_service_url, ["정말 재밌는 영화였어요"]).json()["predictions"]
    assert 1 <= prediction["stars"] <= 10


def test_a_bundle_without_a_rating_head_answers_null_stars(headless_service_url: str) -> None:
    texts = ["정말 재밌는 영화였어요", "돈 아깝다 정말 최악의 영화"]
    predictions = _classify(headless_service_url, texts).json()["predictions"]
    (alone,) = _classify(headless_service_url, texts[:1]).json()["predictions"]
    for prediction in [*predictions, alone]:
        assert "stars" in prediction and prediction["stars"] is None
        assert prediction["label"] in ("negative", "neutral", "positive")
    described = httpx.post(f"{headless_service_url}/model", timeout=30).json()
    assert described["stars"] is False and described["card"]["stars"] is None


@pytest.fixture(scope="module")
def guarded_url(tiny_bentoml_home: Path, tiny_model_tag: str) -> Iterator[str]:
    env = {"MODEL_SERVICE_TOKEN": TOKEN}
    with ModelServiceProcess(tiny_bentoml_home, tiny_model_tag, env=env) as service:
        yield service.url


@pytest.mark.parametrize("path", ["/classify", "/model"])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", TOKEN])
def test_token_is_required_when_set(guarded_url: str, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(f"{guarded_url}{path}", json={"texts": ["좋다"]}, headers=headers)
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]


@pytest.mark.parametrize("path", ["/classify", "/model"])
def test_the_right_token_is_let_in(guarded_url: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{guarded_url}{path}", json={"texts": ["좋다"]}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
def test_health_and_metrics_need_no_token(guarded_url: str, path: str) -> None:
    assert httpx.get(f"{guarded_url}{path}").status_code == 200


def test_too_many_requests_in_flight_get_429(
    tiny_bentoml_home: Path, tiny_model_tag: str, tmp_path: Path
) -> None:
    env = {"MODEL_SERVICE_MAX_CONCURRENCY": "2"}
    with ModelServiceProcess(tiny_bentoml_home, tiny_model_tag, env=env) as service:
        with _kept_busy(service.url, tmp_path):
            responses = _single_text_bursts(service.url, _reviews(32))
        after = _first_answer_other_than_429(service.url)
    statuses = {response.status_code for response in responses}
    assert 429 in statuses and statuses <= {200, 429}
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json() == {"error": "Too many requests"}
    assert after.status_code == 200  # once the load is gone, it serves as before


def _first_answer_other_than_429(url: str, within_s: float = 10) -> httpx.Response:
    """Requests the load left in flight drain first; then the service answers as before."""
    deadline = time.monotonic() + within_s
    while (response := _classify(url, ["좋다"])).status_code == 429:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return response


def test_requests_past_the_latency_budget_get_503(
    tiny_bentoml_home: Path, tiny_model_tag: str
) -> None:
    env = {"MODEL_SERVICE_MAX_LATENCY_MS": "1"}
    # Each request fills a whole batch, so its run alone outlasts the 1 ms budget: a request
    # queued behind one is past the budget whatever the batcher's fitted cost estimate says.
    # (Single texts on the tiny model run in about the budget, and whether any is dropped is
    # then a race.) While the batcher fits its estimate on the opening requests it drops only
    # requests with more queued than it still needs, so a burst then may all be served.
    full_batch = {"texts": _reviews(64)}
    responses = []
    with ModelServiceProcess(tiny_bentoml_home, tiny_model_tag, env=env) as service:
        for _ in range(4):
            responses += asyncio.run(_post_concurrently(service.url, [full_batch] * 16))
            if any(response.status_code == 503 for response in responses):
                break
    assert {response.status_code for response in responses} <= {200, 503}
    dropped = [response for response in responses if response.status_code == 503]
    assert dropped, "a 1 ms budget should drop queued requests"
    assert dropped[0].json()["error"].startswith("overloaded")
    assert dropped[0].headers["Retry-After"] == "1"
