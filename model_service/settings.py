"""The model service's configuration, read from the environment once at import."""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Which model to serve, how requests are batched and bounded, and who may call."""

    model_config = SettingsConfigDict(
        env_prefix="MODEL_SERVICE_", extra="ignore", validate_by_name=True
    )

    # A model store tag; `latest` resolves to the newest registered version.
    model_tag: str = Field("korean-sentiment:latest", validation_alias="MODEL_TAG")
    # When set, /classify and /model require `Authorization: Bearer <token>`.
    token: SecretStr | None = None

    max_texts_per_request: int = Field(64, ge=1, le=1024)
    # Longer texts are refused rather than tokenized: the model only reads max_tokens anyway.
    max_text_chars: int = Field(5000, ge=1)

    # Adaptive batching: texts per ONNX run, and the latency budget a queued request may spend
    # before the batcher answers 503 instead. Off, each request runs alone (for comparison).
    batching: bool = True
    max_batch_size: int = Field(64, ge=2)
    max_latency_ms: int = Field(1000, ge=1)
    # BentoML holds a request that finds its worker idle, for company, by a wait its own history
    # inflates after bursts (model_service/dispatch.py). Off: a batch is what queued meanwhile.
    hold_lone_requests: bool = False
    # Two costs BentoML's request path pays on every request for nothing, patched out
    # (model_service/request_path.py); false runs BentoML's own path.
    trim_request_path: bool = True
    # OpenTelemetry spans of HTTP requests. BentoML samples none unless its tracing is
    # configured, yet builds every span; set true together with a tracing exporter.
    trace_requests: bool = False
    # In-flight requests per instance before 429; the whole request's deadline (504).
    max_concurrency: int = Field(256, ge=1)
    timeout_s: float = Field(30.0, gt=0)

    # Worker processes (default: one per available core) and onnxruntime intra-op threads per
    # worker (default: cores // workers). A worker's HTTP path holds its GIL, so one process
    # serves one core, and single-threaded workers side by side beat one worker with as many
    # threads (docs/benchmarks/FINDINGS.md, section 2).
    workers: int | None = Field(None, ge=1)
    intra_op_threads: int | None = Field(None, ge=1)
    # One log line per request costs throughput on small models; off unless asked for.
    access_log: bool = False

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def worker_count(self, cores: int) -> int:
        """Worker processes on a machine with `cores` available cores."""
        return self.workers or cores

    def onnx_threads(self, cores: int) -> int:
        """Intra-op threads per worker so that workers × threads stays within `cores`."""
        return self.intra_op_threads or max(1, cores // self.worker_count(cores))


settings = Settings()
