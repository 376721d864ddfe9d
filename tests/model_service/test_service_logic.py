"""The service's logic without a model or a server: settings, request model, HTTP edges, bento."""

import logging
import tomllib

import pytest
import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from model_service.service import (
    OVERLOADED,
    BearerTokenMiddleware,
    ClassifyRequest,
    ReadableErrorsMiddleware,
    _ExpectedErrorsFilter,
)
from model_service.settings import Settings
from stack.process import REPO_ROOT
from tests.support.asgi import TestClient

API = frozenset({"/classify", "/model"})


def test_settings_read_the_project_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_TAG", "korean-sentiment:20261121-ab12cd")
    monkeypatch.setenv("MODEL_SERVICE_TOKEN", "s3cret")
    monkeypatch.setenv("MODEL_SERVICE_MAX_BATCH_SIZE", "16")
    configured = Settings()
    assert configured.model_tag == "korean-sentiment:20261121-ab12cd"
    assert configured.token.get_secret_value() == "s3cret"
    assert configured.max_batch_size == 16


def test_an_empty_token_means_the_service_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_SERVICE_TOKEN", "")
    assert Settings().token is None


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (2, 8, 4), (3, 2, 1)]
)
def test_onnx_threads_share_the_cores_among_workers(workers: int, cores: int, threads: int) -> None:
    assert Settings(workers=workers, intra_op_threads=None).onnx_threads(cores) == threads


def test_configured_intra_op_threads_win() -> None:
    assert Settings(workers=2, intra_op_threads=3).onnx_threads(2) == 3


@pytest.mark.parametrize(("cores", "workers", "threads"), [(1, 1, 1), (2, 2, 1), (8, 8, 1)])
def test_by_default_each_core_gets_one_single_threaded_worker(
    cores: int, workers: int, threads: int
) -> None:
    default = Settings(workers=None, intra_op_threads=None)

    assert (default.worker_count(cores), default.onnx_threads(cores)) == (workers, threads)


def test_request_keeps_texts_as_sent() -> None:
    texts = [" 재밌다 ", "최악", "ㅋㅋㅋ"]
    assert ClassifyRequest.model_validate({"texts": texts}).texts == texts


def test_request_names_the_bad_text() -> None:
    with pytest.raises(ValidationError) as raised:
        ClassifyRequest.model_validate({"texts": ["좋아요", "   "]})
    (error,) = raised.value.errors()
    assert error["loc"] == ("texts", 1)
    assert "empty or whitespace only" in error["msg"]


def _inner_app(status: int) -> Starlette:
    async def answer(_: Request) -> PlainTextResponse:
        return PlainTextResponse("inner", status_code=status)

    return Starlette(
        routes=[Route("/classify", answer, methods=["POST"]), Route("/metrics", answer)]
    )


def test_token_is_required_on_api_routes() -> None:
    app = BearerTokenMiddleware(_inner_app(200), token="s3cret", protected_paths=API)
    client = TestClient(app)
    assert client.post("/classify").status_code == 401
    refused = client.post("/classify", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert "bearer token" in refused.json()["error"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/classify", headers={"Authorization": "Bearer s3cret"}).text == "inner"


def test_token_is_not_required_on_health_and_metrics() -> None:
    app = BearerTokenMiddleware(_inner_app(200), token="s3cret", protected_paths=API)
    assert TestClient(app).get("/metrics").text == "inner"


def test_batcher_503_says_overloaded() -> None:
    app = ReadableErrorsMiddleware(_inner_app(503), paths=API)
    response = TestClient(app).post("/classify")
    assert response.status_code == 503
    assert response.json() == OVERLOADED
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(("status", "path"), [(500, "/classify"), (503, "/metrics")])
def test_other_responses_pass_unchanged(status: int, path: str) -> None:
    app = ReadableErrorsMiddleware(_inner_app(status), paths=API)
    response = TestClient(app).request("POST" if path in API else "GET", path)
    assert (response.status_code, response.text) == (status, "inner")


def test_validation_400_gets_one_sentence_per_problem() -> None:
    pydantic_errors = [
        {"type": "too_short", "loc": ["texts"], "msg": "List should have at least 1 item"},
        {"type": "value_error", "loc": ["texts", 2], "msg": "Value error, text is empty"},
    ]

    async def refuse(_: Request) -> JSONResponse:
        return JSONResponse({"error": "2 validation errors", "detail": pydantic_errors}, 400)

    app = Starlette(routes=[Route("/classify", refuse, methods=["POST"])])
    response = TestClient(ReadableErrorsMiddleware(app, paths=API)).post("/classify")
    assert response.status_code == 400
    assert response.json() == {
        "error": "2 validation errors",
        "detail": "texts: List should have at least 1 item; texts[2]: Value error, text is empty",
    }


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "application/x-www-form-urlencoded"]
)
def test_a_form_body_gets_415(content_type: str) -> None:
    app = ReadableErrorsMiddleware(_inner_app(200), paths=API)
    response = TestClient(app).post("/classify", headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "must be JSON" in response.json()["error"]


def _record_of(error: Exception) -> logging.LogRecord:
    exc_info = (type(error), error, None)
    return logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "failed", None, exc_info)


def test_log_keeps_unexpected_errors_only() -> None:
    try:
        ClassifyRequest.model_validate({"texts": []})
    except ValidationError as invalid:
        rejected_input = invalid
    keep = _ExpectedErrorsFilter().filter
    assert not keep(_record_of(rejected_input))
    assert keep(_record_of(RuntimeError("onnxruntime failed")))


def test_bento_packages_the_model_group_only() -> None:
    bentofile = yaml.safe_load((REPO_ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    model_group = set(pyproject["dependency-groups"]["model"])
    packaged = set(bentofile["python"]["packages"])
    # BentoML writes its own pin into the bento; everything else is the model group, pin for pin.
    assert packaged == {pin for pin in model_group if not pin.startswith("bentoml==")}
    assert bentofile["service"] == "model_service.service:SentimentService"
