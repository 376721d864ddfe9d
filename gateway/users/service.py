"""Account queries and changes; passwords are hashed here and never leave this module in clear."""

import contextlib
import logging

from fastapi import HTTPException, status
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.database import MAX_ID
from gateway.errors import invalid_input
from gateway.users.models import User
from gateway.users.schemas import UserCreate, UserUpdate, weak_password_reason
from gateway.users.security import hash_password, verify_password

logger = logging.getLogger(__name__)

EMAIL_TAKEN = "An account with this email exists already"


def get(*, session: Session, user_id: int) -> User | None:
    if not 1 <= user_id <= MAX_ID:
        return None
    return session.get(User, user_id)


def get_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.lower()))


def create(*, session: Session, user_in: UserCreate, is_admin: bool = False) -> User:
    """A new account; 409 when the email is taken (checked by the unique index, race-free)."""
    user = User(
        email=user_in.email,
        display_name=user_in.display_name,
        hashed_password=hash_password(user_in.password.get_secret_value()),
        is_admin=is_admin,
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, detail=EMAIL_TAKEN) from None
    return user


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The account when the password is its own, else None (unknown email or wrong password)."""
    user = get_by_email(session=session, email=email)
    hashed = user.hashed_password if user is not None else None
    return user if verify_password(password, hashed) else None


def update(*, session: Session, user: User, user_in: UserUpdate) -> User:
    """Change the display name and, given the current password, the password."""
    if user_in.display_name is not None:
        user.display_name = user_in.display_name
    if user_in.password is not None:
        assert user_in.current_password is not None  # the schema asks for it
        if not verify_password(user_in.current_password.get_secret_value(), user.hashed_password):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail="current_password: not this account's password"
            )
        reason = weak_password_reason(user_in.password, user.email)
        if reason:
            raise invalid_input("password", reason)
        user.hashed_password = hash_password(user_in.password.get_secret_value())
    session.commit()
    return user


def ensure_first_superuser(*, session: Session, email: str | None, password: str | None) -> None:
    """Create the first admin once: nothing happens while an account has the email."""
    if not email:
        return
    if get_by_email(session=session, email=email) is not None:
        return
    if not password:
        logger.warning("FIRST_SUPERUSER is set without FIRST_SUPERUSER_PASSWORD; no admin created")
        return
    try:
        admin = UserCreate(email=email, password=password, display_name="admin")
    except ValidationError as error:
        # Said without the input: a traceback of the error itself would print the password.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)
        )
        raise ValueError(
            f"FIRST_SUPERUSER / FIRST_SUPERUSER_PASSWORD refused: {problems}"
        ) from None
    # Another gateway instance may create it at the same moment: its 409 is this one's success.
    with contextlib.suppress(HTTPException):
        create(session=session, user_in=admin, is_admin=True)
    logger.info("created the first admin account, %s", admin.email)
