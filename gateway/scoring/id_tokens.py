"""Google ID tokens for a private model service on Cloud Run (MODEL_SERVICE_AUTH=google-id-token):
fetched with google-auth for the service's URL as audience, sent as the bearer token, and fetched
again shortly before each one expires."""

import time
from collections.abc import AsyncGenerator, Callable, Generator

import httpx
import jwt
from anyio import to_thread

# A token this close to its expiry is replaced, so none expires on the way to the service.
REFRESH_MARGIN_S = 300.0


def fetch_google_id_token(audience: str) -> str:
    """An ID token for `audience`, from the metadata server on Cloud Run (or local credentials)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    return google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)


class IdTokenError(Exception):
    """No token could be fetched."""


class IdTokens:
    """The current token for one audience; `fetch` and `clock` are replaceable for tests."""

    def __init__(
        self,
        audience: str,
        *,
        fetch: Callable[[str], str] = fetch_google_id_token,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def fresh(self) -> str | None:
        """The cached token while it has more than the margin to live, else None."""
        if self._token is not None and self._expires_at - self._clock() > REFRESH_MARGIN_S:
            return self._token
        return None

    def refresh(self) -> str:
        try:
            token = self._fetch(self.audience)
        except Exception as error:  # google-auth raises its own errors and those of its transport
            raise IdTokenError(f"no ID token for {self.audience} ({error!r})") from error
        # Read for its expiry only: the model service's front end verifies the signature.
        claims = jwt.decode(token, options={"verify_signature": False})
        self._token, self._expires_at = token, float(claims.get("exp", 0))
        return token


class IdTokenAuth(httpx.Auth):
    """Sends `Authorization: Bearer <ID token>`, fetching one (off the event loop) when due."""

    def __init__(self, tokens: IdTokens) -> None:
        self._tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        try:
            token = self._tokens.fresh() or self._tokens.refresh()
        except IdTokenError as error:
            raise httpx.RequestError(str(error), request=request) from error
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def async_auth_flow(  # type: ignore[override]
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        try:
            token = self._tokens.fresh() or await to_thread.run_sync(self._tokens.refresh)
        except IdTokenError as error:
            # An httpx error: the client reports it as the model service being unreachable.
            raise httpx.RequestError(str(error), request=request) from error
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
