"""The service's ASGI app in a test client: BentoML's routing, validation and batching path around
the tiny model, in this process."""

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.instrumentation import asgi as asgi_tracing

from model_service.inference import SentimentModel, available_cores
from model_service.service import GC_THRESHOLDS, SentimentService
from model_service.settings import settings
from tests.model_service.bad_inputs import BAD_INPUTS, BadInput
from tests.support.asgi import TestClient

DEFAULT_GC_THRESHOLDS = gc.get_threshold()
PREDICTION_KEYS = {
    "label", "confidence", "probabilities", "positivity", "stars", "model", "truncated"
}  # fmt: skip


@dataclass(frozen=True)
class StoreEntry:
    """What the class-level BentoModel resolves to: the entry's directory and its exact tag."""

    path: str
    tag: str


@pytest.fixture(scope="module")
def client(tiny_bundle: Path, tiny_model_tag: str) -> Iterator[TestClient]:
    # The model store lookup is the one thing replaced: `bentoml serve` tests cover it for real.
    with pytest.MonkeyPatch.context() as patch:
        entry = StoreEntry(str(tiny_bundle), tiny_model_tag)
        patch.setattr(SentimentService.inner, "bundle", entry)
        with TestClient(SentimentService.to_asgi()) as test_client:
            yield test_client
    # The service's startup hook froze this test process's heap and spaced its collections.
    gc.unfreeze()
    gc.set_threshold(*DEFAULT_GC_THRESHOLDS)


@pytest.fixture(scope="module")
def reference(tiny_bundle: Path, tiny_model_tag: str) -> SentimentModel:
    return SentimentModel.load(tiny_bundle, model_tag=tiny_model_tag)


def test_classify_answers_each_text_in_order(client: TestClient, reference: SentimentModel) -> None:
    texts = ["정말 재밌는 영화였어요", "돈 아깝다 최악", "그냥 그랬다", "배우 연기 최고 " * 40]
    response = client.post("/classify", json={"texts": texts})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    predictions = response.json()["predictions"]
    assert [set(p) for p in predictions] == [PREDICTION_KEYS] * len(texts)
    # One caller's texts form the whole batch here, so the answers are the module's, bit for bit.
    assert predictions == [p.to_dict() for p in reference.predict(texts)]


def test_classify_answers_stars_from_the_rating_head(client: TestClient) -> None:
    texts = ["배우들 연기가 최고다 강력 추천합니다", "돈 아깝다 정말 최악의 영화"]
    best, worst = client.post("/classify", json={"texts": texts}).json()["predictions"]
    assert 1 <= worst["stars"] < best["stars"] <= 10


def test_classify_flags_truncated_texts(client: TestClient, reference: SentimentModel) -> None:
    long_review = "배우 연기 최고 " * reference.max_tokens
    predictions = client.post("/classify", json={"texts": ["최고", long_review]}).json()
    assert [p["truncated"] for p in predictions["predictions"]] == [False, True]


def test_predictions_carry_the_served_tag(client: TestClient, tiny_model_tag: str) -> None:
    (prediction,) = client.post("/classify", json={"texts": ["재밌다"]}).json()["predictions"]
    assert prediction["model"] == tiny_model_tag
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda bad: bad.name)
def test_bad_input_is_refused_with_its_reason(client: TestClient, bad: BadInput) -> None:
    response = client.post(
        "/classify", content=bad.body.encode(), headers={"Content-Type": bad.content_type}
    )
    assert response.status_code == bad.status
    assert bad.message in json.dumps(response.json(), ensure_ascii=False)


def test_model_endpoint_describes_the_served_model(
    client: TestClient, tiny_bundle: Path, tiny_model_tag: str
) -> None:
    card = json.loads((tiny_bundle / "card.json").read_text(encoding="utf-8"))
    described = client.post("/model").json()
    assert described["model"] == tiny_model_tag
    assert described["labels"] == card["labels"]
    assert described["max_tokens"] == card["max_tokens"]
    assert described["max_texts_per_request"] == settings.max_texts_per_request
    assert described["card"] == card
    assert described["stars"] is True and card["stars"]["calibration"]  # the tiny head's
    # onnxruntime's threads are sized to this process's cores, shared among the workers.
    assert 1 <= described["workers"] * described["intra_op_threads"] <= available_cores()


def test_startup_takes_the_loaded_heap_out_of_collections(client: TestClient) -> None:
    # The startup hook ran in this process once the service had loaded its model.
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLDS


def test_health_endpoints_answer(client: TestClient) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_requests_build_no_tracing_span_unless_asked_for(client: TestClient, monkeypatch) -> None:
    # BentoML samples no span unless its tracing is configured, but would build one a request.
    spans = []
    start_span = asgi_tracing._start_internal_or_server_span

    def counted(*args, **kwargs):
        spans.append(kwargs.get("span_name"))
        return start_span(*args, **kwargs)

    monkeypatch.setattr(asgi_tracing, "_start_internal_or_server_span", counted)
    assert client.post("/classify", json={"texts": ["재밌다"]}).status_code == 200
    assert spans == []
