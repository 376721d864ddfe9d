"""Gateway configuration from environment variables: one `Settings`, one module-level `settings`."""

from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    model_service_url: str = "http://127.0.0.1:3000"
    model_service_token: SecretStr | None = None
    model_service_connect_timeout_s: float = Field(default=2.0, gt=0)
    # A review request waits at most this long for its score before answering `pending`.
    model_service_timeout_s: float = Field(default=10.0, gt=0)

    gateway_host: str = "0.0.0.0"
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

    @model_validator(mode="after")
    def _lease_outlives_a_model_call(self) -> Self:
        # A claim that lapsed while its model call was still running would let a second scorer in.
        call_s = self.model_service_connect_timeout_s + self.model_service_timeout_s
        if self.scorer_lease_s <= call_s:
            raise ValueError(f"SCORER_LEASE_S must exceed a model call ({call_s:g} s)")
        return self


settings = Settings()
