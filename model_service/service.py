"""The sentiment model over HTTP: a thin BentoML shell with adaptive batching around inference.py.

POST /classify batches concurrent callers' texts into one ONNX run; POST /model describes the model.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
from typing import Annotated, Any, Literal

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from starlette.responses import JSONResponse, Response

from model_service.dispatch import holds_lone_requests, stop_holding_lone_requests
from model_service.inference import SentimentModel, available_cores
from model_service.lifetime import die_with_arbiter, remember_arbiter
from model_service.request_path import request_path_trimmed, trim_request_path
from model_service.settings import settings

# First thing in a worker (BentoML numbers workers; the arbiter and in-process tests have none).
if bentoml.server_context.worker_index is not None:
    die_with_arbiter()

if not settings.hold_lone_requests:
    stop_holding_lone_requests()
if settings.trim_request_path:
    trim_request_path()

OVERLOADED = {
    "error": "overloaded: the request could not be scheduled within the latency budget "
    f"({settings.max_latency_ms} ms); retry later"
}


NOT_JSON = {"error": 'the body must be JSON, e.g. {"texts": ["..."]}, not a form'}


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text is empty or whitespace only")
    return text


ReviewText = Annotated[str, Field(max_length=settings.max_text_chars), AfterValidator(_not_blank)]


class ClassifyRequest(bentoml.IODescriptor):
    """One or more review texts to classify."""

    texts: Annotated[
        list[ReviewText], Field(min_length=1, max_length=settings.max_texts_per_request)
    ]


class PredictionBody(BaseModel):
    label: Literal["negative", "neutral", "positive"]
    confidence: float
    probabilities: dict[str, float]
    positivity: float
    stars: Annotated[float, Field(ge=1, le=10)] | None = Field(
        description="the expected star rating (1–10, two decimals) from the bundle's rating "
        "head; null when the bundle has none"
    )
    model: str
    truncated: bool


class ClassifyResponse(bentoml.IODescriptor):
    """One prediction per text, in the order the texts were sent."""

    predictions: list[PredictionBody]

    @classmethod
    async def to_http_response(cls, obj: Any, serde: Any) -> Response:
        # A batchable API hands each caller its own slice of the batch's output (a list of
        # prediction dicts); wrapping it here keeps the body an object that can grow fields.
        return JSONResponse({"predictions": obj})


class BearerTokenMiddleware:
    """Answers 401 on the given paths unless the request carries `Authorization: Bearer <token>`.

    Only the API routes are guarded: probes and Prometheus must reach /livez, /readyz, /metrics.
    """

    def __init__(self, app: Any, token: str, protected_paths: frozenset[str]) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.protected_paths = protected_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in self.protected_paths:
            sent = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(sent, self.expected):
                response = JSONResponse(
                    {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ReadableErrorsMiddleware:
    """Gives BentoML's 400 and the batcher's 503 bodies the shape the API documents.

    BentoML answers a body that fails validation with pydantic's list of errors under `detail`
    (its OpenAPI says a string), and a request the batcher dropped (its latency budget would be
    exceeded) with "An unexpected error has occurred, please check the server log.". Callers get
    one readable sentence per problem, and for the 503 that the service is overloaded and a retry
    later is the remedy.
    """

    def __init__(self, app: Any, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if _is_form(scope):
            # BentoML would try to parse a form (a 500 when its boundary is missing); the API
            # takes JSON only.
            await JSONResponse(NOT_JSON, status_code=415)(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_readable(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] in (400, 503):
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status = start["status"]
            body = readable_error_body(status, b"".join(chunks))
            headers = [(b"content-type", b"application/json")]
            headers += [(b"retry-after", b"1")] if status == 503 else []
            headers += [(b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_readable)


def _is_form(scope: Any) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return content_type.startswith((b"multipart/", b"application/x-www-form-urlencoded"))


def readable_error_body(status: int, body: bytes) -> bytes:
    """`{"error": ..., "detail": "<one sentence per problem>"}` for a 400, OVERLOADED for a 503."""
    if status == 503:
        return json.dumps(OVERLOADED).encode()
    try:
        error = json.loads(body)
    except ValueError:
        error = {"error": body.decode(errors="replace")}
    detail = error.get("detail")
    if isinstance(detail, list):
        error["detail"] = "; ".join(_problem(item) for item in detail)
    return json.dumps(error, ensure_ascii=False).encode()


def _problem(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
    return f"{where.lstrip('.') or 'body'}: {item.get('msg', 'invalid')}"


class _ExpectedErrorsFilter(logging.Filter):
    """Drops BentoML's ERROR-with-traceback for requests answered 400 (bad body) or 503 (overload).

    Both are answered with their reason; logging each as a server error would flood the log exactly
    when a client misbehaves or the service is overloaded. /metrics counts them by status code.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ValidationError | ServiceUnavailable)


logging.getLogger("bentoml._internal.server.http_app").addFilter(_ExpectedErrorsFilter())

# Allocations between young collections, then young collections per middle one, middle per full
# (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 100)

# Counted once: the cgroup quota does not change under a running service.
WORKERS = settings.worker_count(available_cores())


@bentoml.service(
    workers=WORKERS,
    traffic={"timeout": settings.timeout_s, "max_concurrency": settings.max_concurrency},
    logging={"access": {"enabled": settings.access_log}},
    # A pattern every URL matches: no span is built.
    tracing={} if settings.trace_requests else {"excluded_urls": ".*"},
)
class SentimentService:
    """Korean movie-review sentiment from an INT8 ONNX bundle in the BentoML model store."""

    # Declared on the class so that `bentoml build` packages this model with the service.
    bundle = bentoml.models.BentoModel(settings.model_tag)

    def __init__(self) -> None:
        self.ready = False
        stored = self.bundle
        self.intra_op_threads = settings.onnx_threads(available_cores())
        self.model = SentimentModel.load(
            stored.path, model_tag=str(stored.tag), intra_op_threads=self.intra_op_threads
        )
        self.model.warm_up()
        self.ready = True

    def __is_ready__(self) -> bool:
        return self.ready

    @bentoml.on_deployment
    def before_workers_start() -> None:
        """Runs once in `bentoml serve`'s own process, before it spawns the workers."""
        remember_arbiter()

    @bentoml.on_startup
    def tune_garbage_collection(self) -> None:
        """Take what the worker keeps for its whole life out of the garbage collector's scans, and
        collect the young generation less often.

        By now the worker holds BentoML, the app, the model and its tokenizer: tens of thousands
        of objects that every full collection would walk, stalling all of the worker's requests
        and showing in the tail latency (docs/benchmarks/FINDINGS.md, section 3). A request's own
        objects die by reference count, yet under load Python's default thresholds still run a
        collection every ten or so requests and a full one every thousand or so, each stalling every
        request in flight; cycles are still found with the thresholds spaced out.
        """
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    @bentoml.api(
        batchable=settings.batching,
        batch_dim=0,
        max_batch_size=settings.max_batch_size,
        max_latency_ms=settings.max_latency_ms,
        input_spec=ClassifyRequest,
        output_spec=ClassifyResponse,
    )
    def classify(self, texts: list[str]) -> list[dict[str, Any]]:
        """Classify review texts: one prediction each, in input order.

        Concurrent callers' texts arrive here concatenated into one batch; BentoML splits the
        returned list back by caller, so the output must stay aligned with `texts`.
        """
        return [prediction.to_dict() for prediction in self.model.predict(texts)]

    @bentoml.api(route="/model")
    async def describe(self) -> dict[str, Any]:
        """The served model: its tag, label map, whether its predictions carry stars, card
        figures and the request limits."""
        return {
            "model": self.model.model_tag,
            "labels": self.model.labels,
            "neutral_threshold": self.model.neutral_threshold,
            "max_tokens": self.model.max_tokens,
            "stars": self.model.has_stars,
            "max_texts_per_request": settings.max_texts_per_request,
            "max_text_chars": settings.max_text_chars,
            "max_batch_size": settings.max_batch_size,
            "max_latency_ms": settings.max_latency_ms,
            "holds_lone_requests": holds_lone_requests(),
            "request_path_trimmed": request_path_trimmed(),
            "workers": WORKERS,
            "intra_op_threads": self.intra_op_threads,
            "card": self.model.card,
        }


API_PATHS = frozenset(api.route for api in SentimentService.apis.values())
SentimentService.add_asgi_middleware(ReadableErrorsMiddleware, paths=API_PATHS)
if settings.token is not None:
    SentimentService.add_asgi_middleware(
        BearerTokenMiddleware,
        token=settings.token.get_secret_value(),
        protected_paths=API_PATHS,
    )
