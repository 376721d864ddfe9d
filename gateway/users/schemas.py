"""Request and response bodies for accounts; no response carries a password or its hash."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.fields import not_null, text

MIN_PASSWORD_CHARS = 10

DisplayName = text(min_length=1, max_length=100)


def _email(value: str) -> str:
    # One @ with something on both sides: local names such as admin@localhost are accounts too.
    local, at, domain = value.partition("@")
    if not (local and at and domain) or "@" in domain or any(c.isspace() for c in value):
        raise ValueError("not an email address")
    return value.lower()


Email = Annotated[text(min_length=3, max_length=320), AfterValidator(_email)]
Password = Annotated[SecretStr, Field(max_length=200)]


def weak_password_reason(password: SecretStr, email: str | None) -> str | None:
    """Why a password is too easy to guess, or None."""
    secret = password.get_secret_value()
    if len(secret) < MIN_PASSWORD_CHARS:
        return f"use at least {MIN_PASSWORD_CHARS} characters"
    if email is not None and secret.strip().lower() == email.lower():
        return "must not be the email address"
    return None


def _strong(password: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
    reason = password and weak_password_reason(password, info.data.get("email"))
    if reason:
        raise ValueError(reason)
    return password


class UserCreate(BaseModel):
    email: Email
    password: Password = Field(
        description=f"At least {MIN_PASSWORD_CHARS} characters, and not the email address."
    )
    display_name: DisplayName

    _strong_password = field_validator("password")(_strong)


class UserUpdate(BaseModel):
    """Only the fields sent are changed; a new password needs the current one."""

    display_name: not_null(DisplayName) = None
    password: Password | None = None
    current_password: Password | None = None

    _strong_password = field_validator("password")(_strong)

    @model_validator(mode="after")
    def _current_password_with_a_new_one(self) -> Self:
        if self.password is not None and self.current_password is None:
            raise ValueError("current_password: needed to set a new password")
        return self


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    is_admin: bool
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
