"""The UI's HTTP client for the gateway API: one httpx client, explicit timeouts, one error type.

No Gradio here, so the client is tested on its own against a real gateway. Writes carry the
signed-in visitor's `token` (from `sign_in`), passed per call: the client is shared by every
visitor and holds nobody's credentials (`api_key` is for machine clients, e.g. tests). Creating a
movie or a review sends an Idempotency-Key, so the client retries it itself when the gateway's
answer does not arrive: a retry that reaches a gateway which stored the first gets its answer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# A create is tried this often when no answer comes (a timeout, a refused or dropped connection).
CREATE_ATTEMPTS = 3
RETRY_PAUSE_S = 0.5


class GatewayError(Exception):
    """A request the gateway refused or never answered, with a message a person can read.

    `status_code` is None when the gateway could not be reached at all; `field_errors` maps a
    request field (e.g. "title") to the gateway's validation message for it.
    """

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        field_errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.field_errors = field_errors or {}

    @property
    def unreachable(self) -> bool:
        return self.status_code is None


class GatewayClient:
    """The gateway's accounts, movies, reviews, ratings and health, as plain dicts."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        # A short connect timeout: a gateway that is down should say so at once, not after 10 s.
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, Any]:
        """Status of the database and model service, and the served model tag (`model`)."""
        # A 503 still carries the health body: the gateway answers but its database does not.
        return self._request("GET", "/health", accept=(503,))

    def list_movies(self, *, q: str | None = None, skip: int = 0, limit: int = 100) -> list[dict]:
        params: dict[str, Any] = {"skip": skip, "limit": limit}
        if q:
            params["q"] = q
        return self._request("GET", "/movies/", params=params)

    def get_movie(self, movie_id: int) -> dict[str, Any]:
        return self._request("GET", f"/movies/{movie_id}")

    def register(self, *, email: str, password: str, display_name: str) -> dict[str, Any]:
        body = {"email": email, "password": password, "display_name": display_name}
        return self._request("POST", "/auth/register", json=body)

    def sign_in(self, *, email: str, password: str) -> str:
        """An access token for the account (the OAuth2 password flow)."""
        form = {"username": email, "password": password}
        return self._request("POST", "/auth/token", data=form)["access_token"]

    def me(self, *, token: str) -> dict[str, Any]:
        return self._request("GET", "/users/me", token=token)

    def create_movie(
        self,
        movie: dict[str, Any],
        *,
        token: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A new movie; `idempotency_key` as for `create_review`."""
        return self._create("/movies/", movie, token=token, idempotency_key=idempotency_key)

    def delete_movie(self, movie_id: int, *, token: str | None = None) -> dict[str, Any]:
        return self._request("DELETE", f"/movies/{movie_id}", token=token)

    def create_review(
        self,
        *,
        movie_id: int,
        content: str,
        token: str | None = None,
        author: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A review by the signed-in visitor (`author` is for machine clients only).

        Each call is one submission: its key (a fresh UUID unless `idempotency_key` is given) goes
        with every try of it, so the review is stored once however many tries it took.
        """
        body: dict[str, Any] = {"movie_id": movie_id, "content": content}
        if author is not None:
            body["author"] = author
        return self._create("/reviews/", body, token=token, idempotency_key=idempotency_key)

    def update_review(
        self, review_id: int, *, content: str, token: str | None = None
    ) -> dict[str, Any]:
        return self._request(
            "PATCH", f"/reviews/{review_id}", json={"content": content}, token=token
        )

    def delete_review(self, review_id: int, *, token: str | None = None) -> dict[str, Any]:
        return self._request("DELETE", f"/reviews/{review_id}", token=token)

    def get_review(self, review_id: int) -> dict[str, Any]:
        return self._request("GET", f"/reviews/{review_id}")

    def list_reviews(
        self, *, movie_id: int | None = None, skip: int = 0, limit: int = 10
    ) -> list[dict]:
        path = "/reviews/" if movie_id is None else f"/reviews/movie/{movie_id}"
        return self._request("GET", path, params={"skip": skip, "limit": limit})

    def movie_rating(self, movie_id: int) -> dict[str, Any]:
        return self._request("GET", f"/reviews/movie/{movie_id}/rating")

    def models(self) -> dict[str, Any]:
        """The live model, the candidate in shadow, and how many reviews each tag scored."""
        return self._request("GET", "/models")

    def model_comparison(self, *, candidate: str | None = None) -> dict[str, Any]:
        """The live model against the candidate (by default the one in shadow)."""
        params = {"candidate": candidate} if candidate else {}
        return self._request("GET", "/models/comparison", params=params)

    def _create(
        self, path: str, body: dict[str, Any], *, token: str | None, idempotency_key: str | None
    ) -> dict[str, Any]:
        key = {IDEMPOTENCY_KEY_HEADER: idempotency_key or str(uuid.uuid4())}
        return self._request(
            "POST", path, json=body, token=token, headers=key, attempts=CREATE_ATTEMPTS
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        accept: tuple[int, ...] = (),
        token: str | None = None,
        headers: dict[str, str] | None = None,
        attempts: int = 1,
        **kwargs: Any,
    ) -> Any:
        """The answer's JSON; tried up to `attempts` times while no answer comes."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
                break
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise _unanswered(exc, self._http.base_url) from exc
                time.sleep(RETRY_PAUSE_S)
            except httpx.HTTPError as exc:
                raise _unanswered(exc, self._http.base_url) from exc
        if response.is_error and response.status_code not in accept:
            raise _error_from(response)
        return response.json()


def _unanswered(exc: httpx.HTTPError, base_url: httpx.URL) -> GatewayError:
    if isinstance(exc, httpx.TimeoutException):
        return GatewayError(f"The gateway did not answer in time ({exc!r})")
    return GatewayError(f"Cannot reach the gateway at {base_url}")


def _error_from(response: httpx.Response) -> GatewayError:
    """The gateway's `detail`, plus its validation `errors` ({"field", "message"}) by field."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not the gateway speaking, e.g. a proxy's HTML page
        body = {}
    detail = body.get("detail") or f"HTTP {response.status_code} {response.reason_phrase}".strip()
    field_errors: dict[str, str] = {}
    for error in body.get("errors") or []:
        field_errors.setdefault(str(error.get("field")), str(error.get("message")))
    return GatewayError(str(detail), status_code=response.status_code, field_errors=field_errors)
