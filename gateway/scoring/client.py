"""The model service's typed client: one httpx.AsyncClient, explicit timeouts, one error type."""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar, get_args

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from gateway.scoring.id_tokens import IdTokenAuth, IdTokens
from gateway.settings import Settings

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = get_args(Label)

_Schema = TypeVar("_Schema", bound=BaseModel)

# A star rating as reviewers give them (the bounds refuse NaN too). Strict: a string or a boolean
# is a broken answer, not a number to coerce.
Stars = Annotated[float, Field(strict=True, ge=1, le=10)]


class Prediction(BaseModel):
    """One scored text, as the model service returns it."""

    label: Label
    confidence: float = Field(ge=0, le=1)
    probabilities: dict[Label, float]
    positivity: float = Field(ge=0, le=1)
    # None when the bundle has no rating head, and from model services older than the field.
    stars: Stars | None = None
    model: str = Field(min_length=1, max_length=200)
    truncated: bool = False


class _Classification(BaseModel):
    predictions: list[Prediction]


class _ModelDescription(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)


class ModelServiceError(Exception):
    """The model service could not score: unreachable, too slow, overloaded, or it refused."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def input_refused(self) -> bool:
        """The service refused the texts themselves: sending them again will not help."""
        return self.status_code in (400, 413, 422)


def _id_token_auth(settings: Settings) -> httpx.Auth | None:
    """Google ID tokens when the model service is private on Cloud Run. The candidate is a tagged
    revision of the same service, so one audience, the service's URL, serves both clients."""
    if settings.model_service_auth != "google-id-token":
        return None
    return IdTokenAuth(IdTokens(settings.model_service_url))


class ModelServiceClient:
    """Calls the model service's HTTP API; every failure surfaces as a `ModelServiceError`."""

    def __init__(self, http: httpx.AsyncClient, *, probe_timeout_s: float) -> None:
        self._http = http
        self._probe_timeout = httpx.Timeout(probe_timeout_s)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> "ModelServiceClient":
        """The live model service's client."""
        return cls.connect(
            settings.model_service_url,
            settings.model_service_token,
            auth=_id_token_auth(settings),
            timeout_s=settings.scoring_timeout_s,
            connect_timeout_s=settings.model_service_connect_timeout_s,
            transport=transport,
        )

    @classmethod
    def candidate_from_settings(cls, settings: Settings) -> "ModelServiceClient | None":
        """The shadow candidate's client, or None when no candidate is configured."""
        if settings.shadow_model_service_url is None:
            return None
        return cls.connect(
            settings.shadow_model_service_url,
            settings.shadow_model_service_token,
            auth=_id_token_auth(settings),
            timeout_s=settings.shadow_timeout_s,
            connect_timeout_s=min(
                settings.model_service_connect_timeout_s, settings.shadow_timeout_s
            ),
        )

    @classmethod
    def connect(
        cls,
        url: str,
        token: SecretStr | None,
        *,
        auth: httpx.Auth | None = None,
        timeout_s: float,
        connect_timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> "ModelServiceClient":
        """A client of the model service at `url`: `auth` (ID tokens) when given, else the static
        bearer `token` when set."""
        headers = {}
        if auth is None and token is not None:
            headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        http = httpx.AsyncClient(
            base_url=url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
        )
        return cls(http, probe_timeout_s=connect_timeout_s)

    async def describe(self) -> dict[str, Any]:
        """The served model's description (`POST /model`): tag, labels, card."""
        response = await self._request("POST", "/model", json={}, timeout=self._probe_timeout)
        return _parse(_ModelDescription, response).model_dump()

    async def classify(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order."""
        response = await self._request("POST", "/classify", json={"texts": list(texts)})
        predictions = _parse(_Classification, response).predictions
        if len(predictions) != len(texts):
            raise ModelServiceError(
                f"the model service returned {len(predictions)} predictions for {len(texts)} texts"
            )
        return predictions

    async def is_ready(self) -> bool:
        """Whether the service says its model is loaded (`/readyz`)."""
        try:
            await self._request("GET", "/readyz", timeout=self._probe_timeout)
        except ModelServiceError:
            return False
        return True

    async def served_model(self) -> str:
        """The tag of the model the service serves now."""
        response = await self._request("POST", "/model", json={}, timeout=self._probe_timeout)
        return _parse(_ModelDescription, response).model

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as error:
            raise ModelServiceError(f"the model service did not answer in time ({path})") from error
        except httpx.HTTPError as error:
            raise ModelServiceError(f"the model service is unreachable ({error!r})") from error
        if response.is_error:
            raise ModelServiceError(
                f"the model service answered {response.status_code} on {path}: "
                f"{response.text[:200]}",
                status_code=response.status_code,
            )
        return response


def _parse(schema: type[_Schema], response: httpx.Response) -> _Schema:
    try:
        return schema.model_validate_json(response.content)
    except ValidationError as error:
        raise ModelServiceError(f"the model service sent an unexpected answer: {error}") from error
