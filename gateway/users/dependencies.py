"""Who is calling and what they may do, as dependencies every route states in its signature (and
OpenAPI shows): `SignedInUser` (an account's token), `CurrentUser` (an account or a machine key,
counted against the write limit), `AdminUser` (an admin or a machine key).

A caller presents a machine key (`X-API-Key`, or as the bearer token) or an access token from
`/auth/token`. Anything else, forged, expired or signed with another key, is a 401.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from gateway.rate_limits import RateLimits
from gateway.security import API_KEY_HEADER, ApiKeys
from gateway.users import service as user_service
from gateway.users.models import User
from gateway.users.security import TokenSigner

NOT_SIGNED_IN = "Sign in first: send `Authorization: Bearer <token>` with a token from /auth/token"
ADMINS_ONLY = "Only an admin may do this"

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="A machine client's key (GATEWAY_API_KEYS)."
)
_token = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    auto_error=False,
    description="An access token from /auth/token (a machine key is accepted here too).",
)


@dataclass(frozen=True)
class Caller:
    """A signed-in account, or a machine client (`user` None) with an admin's rights."""

    user: User | None
    key_index: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.user is None or self.user.is_admin

    @property
    def limit_key(self) -> str:
        return f"key:{self.key_index}" if self.user is None else f"user:{self.user.id}"

    def owns(self, user_id: int | None) -> bool:
        """Whether the caller may change what `user_id` wrote (nobody's: admins only)."""
        return self.is_admin or (self.user is not None and user_id == self.user.id)


def _unauthorized(detail: str = NOT_SIGNED_IN) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _signed_in_user(request: Request, token: str) -> User | None:
    tokens: TokenSigner = request.app.state.tokens
    user_id = tokens.user_id(token)
    if user_id is None:
        return None
    with request.app.state.session_factory() as session:
        return user_service.get(session=session, user_id=user_id)


async def authenticated_caller(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key)],
    token: Annotated[str | None, Security(_token)],
) -> Caller:
    """The caller, or 401 (async: a machine key costs no thread hand-off on the write path)."""
    presented = api_key if api_key is not None else token
    if not presented:
        raise _unauthorized()
    keys: ApiKeys = request.app.state.api_keys
    key_index = keys.index_of(presented.strip().encode("latin-1"))
    if key_index is not None:
        return Caller(user=None, key_index=key_index)
    if api_key is not None:
        raise _unauthorized("The API key is not one the gateway accepts")
    user = await run_in_threadpool(_signed_in_user, request, presented)
    if user is None:
        raise _unauthorized("The token is invalid or expired; sign in again")
    return Caller(user=user)


async def writer(
    request: Request, caller: Annotated[Caller, Depends(authenticated_caller)]
) -> Caller:
    """The caller, counted against the write limit (429 with Retry-After past it)."""
    limits: RateLimits = request.app.state.rate_limits
    if limits.writes is not None:
        await limits.writes.hit(caller.limit_key, message="Too many writes from this account")
    return caller


async def admin_writer(caller: Annotated[Caller, Depends(writer)]) -> Caller:
    if not caller.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=ADMINS_ONLY)
    return caller


async def signed_in_user(caller: Annotated[Caller, Depends(authenticated_caller)]) -> User:
    if caller.user is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="A machine key has no account")
    return caller.user


CurrentUser = Annotated[Caller, Depends(writer)]
AdminUser = Annotated[Caller, Depends(admin_writer)]
SignedInUser = Annotated[User, Depends(signed_in_user)]
