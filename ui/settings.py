"""The UI's configuration, read from the environment once at start."""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the gateway is, which language the interface speaks, where the UI listens."""

    model_config = SettingsConfigDict(extra="ignore")

    # Writes carry the signed-in visitor's own token, kept in their browser session only.
    gateway_url: str = "http://127.0.0.1:8000"
    gateway_timeout_s: float = 10.0
    ui_lang: Literal["ko", "en"] = "ko"
    # Review times are shown in this zone (the gateway stores UTC).
    ui_timezone: str = "Asia/Seoul"
    server_name: str = Field("127.0.0.1", validation_alias="GRADIO_SERVER_NAME")
    # Gradio's own variable wins, then Cloud Run's PORT (it tells a container its port), then ours.
    server_port: int = Field(
        7860, ge=1, le=65535, validation_alias=AliasChoices("GRADIO_SERVER_PORT", "PORT", "UI_PORT")
    )


settings = Settings()
