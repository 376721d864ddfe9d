"""Routes under /auth/ (register, sign in) and /users/me (the signed-in account)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from starlette.concurrency import run_in_threadpool

from gateway.database import SessionDep
from gateway.rate_limits import RateLimits
from gateway.schemas import FORBIDDEN, INVALID_INPUT, TOO_MANY, UNAUTHORIZED, ErrorBody
from gateway.users import service as user_service
from gateway.users.dependencies import SignedInUser
from gateway.users.models import User
from gateway.users.schemas import Token, UserCreate, UserRead, UserUpdate
from gateway.users.security import TokenSigner

WRONG_CREDENTIALS = "Wrong email or password"
TOO_MANY_SIGN_INS = "Too many failed sign-ins"


auth_router = APIRouter(prefix="/auth", tags=["accounts"], responses=INVALID_INPUT)
users_router = APIRouter(
    prefix="/users", tags=["accounts"], responses={**INVALID_INPUT, **UNAUTHORIZED, **FORBIDDEN}
)


@auth_router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody, "description": "The email is taken"}},
)
def register(user_in: UserCreate, session: SessionDep) -> User:
    """A new account (a user; admins come from FIRST_SUPERUSER)."""
    return user_service.create(session=session, user_in=user_in)


@auth_router.post("/token", response_model=Token, responses={**UNAUTHORIZED, **TOO_MANY})
async def sign_in(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """The OAuth2 password flow: `username` is the email. Failed attempts are limited per
    account and per client; at the limit even the right password waits for Retry-After."""
    limits: RateLimits = request.app.state.rate_limits
    account = f"account:{form.username.strip().lower()}"
    client = f"client:{request.client.host if request.client else 'unknown'}"
    attempts = [(limits.sign_ins_per_account, account), (limits.sign_ins_per_client, client)]
    for limit, key in attempts:
        if limit is not None:
            await limit.check(key, message=TOO_MANY_SIGN_INS)
    user = await run_in_threadpool(_authenticate, request, form.username, form.password)
    if user is None:
        for limit, key in attempts:
            if limit is not None:
                await limit.count(key)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=WRONG_CREDENTIALS,
            headers={"WWW-Authenticate": "Bearer"},
        )
    tokens: TokenSigner = request.app.state.tokens
    return Token(access_token=tokens.issue(user.id))


def _authenticate(request: Request, email: str, password: str) -> User | None:
    with request.app.state.session_factory() as session:
        return user_service.authenticate(session=session, email=email, password=password)


@users_router.get("/me", response_model=UserRead)
def read_me(user: SignedInUser) -> User:
    return user


@users_router.patch("/me", response_model=UserRead)
def update_me(user: SignedInUser, user_in: UserUpdate, session: SessionDep) -> User:
    """Change the display name, or the password (with `current_password`)."""
    user = session.merge(user)
    return user_service.update(session=session, user=user, user_in=user_in)
