"""Gateway configuration from environment variables: one `Settings`, one module-level `settings`."""

import re
from typing import Annotated, Literal, Self

from limits import parse
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the gateway reads from its environment; names are the upper-cased field names."""

    model_config = SettingsConfigDict(extra="ignore")

    # The zero-setup default is a SQLite file under state/; PostgreSQL in compose, tests and on
    # Cloud SQL (postgresql+psycopg2://USER:PASS@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE).
    database_url: str = "sqlite:///state/moviegpt.db"
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    db_pool_recycle_s: int = Field(default=1800, ge=-1)
    db_connect_timeout_s: int = Field(default=5, ge=1)
    # At start the gateway waits this long for the database, which may come up after it.
    db_startup_wait_s: float = Field(default=30.0, ge=0)
    # Review writes of concurrent requests share transactions: at most this many requests' writes
    # in one (their new reviews, or their scoring calls' scores: one review each, a background
    # batch more), and this many such transactions at once (each holds a pooled connection).
    # One at a time makes larger groups, and larger groups are what the write path gains from.
    db_write_max_reviews: int = Field(default=64, ge=1, le=1024)
    db_write_max_in_flight: int = Field(default=1, ge=1)

    model_service_url: str = "http://127.0.0.1:3000"
    model_service_token: SecretStr | None = None
    # How the gateway proves itself to the model service: the static MODEL_SERVICE_TOKEN
    # (compose), or a Google ID token for MODEL_SERVICE_URL (a private Cloud Run service).
    model_service_auth: Literal["token", "google-id-token"] = "token"
    model_service_connect_timeout_s: float = Field(default=2.0, gt=0)
    # A review request waits at most this long for its score before answering `pending`.
    scoring_timeout_s: float = Field(default=10.0, gt=0)
    # Reviews scored at the same time share /classify calls: at most this many texts per call
    # (the model service's MODEL_SERVICE_MAX_TEXTS_PER_REQUEST) and this many calls at once
    # (one, for the larger calls, as with the transactions above).
    scoring_max_texts_per_call: int = Field(default=64, ge=1, le=1024)
    scoring_max_calls_in_flight: int = Field(default=1, ge=1)

    # The candidate model in shadow: every text the gateway scores is also sent there, off the
    # request path, and its prediction stored apart (never shown as the review's score).
    shadow_model_service_url: str | None = None
    shadow_model_service_token: SecretStr | None = None
    # Texts waiting for the candidate; past this many, new ones are dropped (and counted), so a
    # slow or dead candidate costs a bounded amount of memory and nothing else.
    shadow_queue_size: int = Field(default=2048, ge=1)
    shadow_timeout_s: float = Field(default=5.0, gt=0)

    # A create request's Idempotency-Key is remembered this long: a retry within it gets the first
    # answer; afterwards the key counts as new.
    idempotency_key_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 365)

    gateway_host: str = "0.0.0.0"
    # Proxies whose X-Forwarded-For names the real client (the per-client write limit counts by
    # it): "*" behind Cloud Run's front end, which is the only way in there; none by default.
    gateway_trusted_proxies: str = "127.0.0.1"
    # One log line per request (uvicorn's access log). Off by default: under load it costs as
    # much CPU as the ORM, and Cloud Run's front end logs every request anyway.
    gateway_access_log: bool = False
    # Cloud Run tells a container its port in PORT; it wins over GATEWAY_PORT.
    gateway_port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "GATEWAY_PORT")
    )

    scorer_enabled: bool = True
    scorer_batch_size: int = Field(default=32, ge=1, le=256)
    scorer_poll_interval_s: float = Field(default=2.0, gt=0)
    scorer_max_backoff_s: float = Field(default=30.0, gt=0)
    # A claim on a review lapses after this long: a gateway that dies mid-batch frees its reviews.
    scorer_lease_s: float = Field(default=60.0, gt=0)
    # A review the model service refuses (4xx) is retried this much later, not blocking others.
    scorer_reject_delay_s: float = Field(default=3600.0, gt=0)

    # Machine clients (comma-separated keys), with every right an admin has, sent as
    # `X-API-Key: <key>` or `Authorization: Bearer <key>`; people sign in for a token instead.
    gateway_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    # Signs the access tokens; unset, a key generated into SECRET_KEY_FILE (local runs only:
    # instances behind one URL must share one key).
    secret_key: SecretStr | None = None
    secret_key_file: str = "state/secret_key"
    access_token_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # The first admin, created at start when no account has this email yet.
    first_superuser: str | None = None
    first_superuser_password: SecretStr | None = None
    # Browser origins (scheme://host[:port], comma-separated) whose pages may call the API.
    gateway_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Abuse limits (the `limits` library's notation, e.g. "5/minute"), counted in memory, or in
    # Redis (redis://host:port) so that every gateway instance counts against the same limit.
    rate_limit_storage_url: str = "memory://"
    # Writes per caller (the user, else the API key); "" turns the limit off.
    gateway_write_limit: str = "1200/minute"
    # Failed sign-ins per account and per client address, before 429 with Retry-After.
    sign_in_limit_per_account: str = "5/minute"
    sign_in_limit_per_client: str = "20/minute"
    # Larger request bodies get 413; a review's body stays under 32 KiB even with every
    # character \u-escaped.
    gateway_max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator(
        "model_service_token",
        "secret_key",
        "first_superuser",
        "first_superuser_password",
        "shadow_model_service_url",
        "shadow_model_service_token",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("gateway_api_keys", "gateway_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("gateway_write_limit", "sign_in_limit_per_account", "sign_in_limit_per_client")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value:
            try:
                parse(value)
            except ValueError:
                raise ValueError(
                    f"a limit reads like '5/minute' or '100/15minutes': {value!r}"
                ) from None
        return value

    @field_validator("gateway_cors_origins")
    @classmethod
    def _explicit_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # A wildcard would let every site's pages write with a visitor's browser.
        for origin in origins:
            if not re.fullmatch(r"https?://[^/\s*]+", origin):
                raise ValueError(f"an origin is scheme://host[:port], without '*': {origin!r}")
        return origins

    @model_validator(mode="after")
    def _lease_outlives_a_model_call(self) -> Self:
        # A claim that lapsed while its model call was still running would let a second scorer in.
        call_s = self.model_service_connect_timeout_s + self.scoring_timeout_s
        if self.scorer_lease_s <= call_s:
            raise ValueError(f"SCORER_LEASE_S must exceed a model call ({call_s:g} s)")
        return self


settings = Settings()
