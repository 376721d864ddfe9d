"""Passwords (Argon2 hashes) and access tokens (JWTs, HS256, the algorithm pinned on decode)."""

import functools
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from gateway.settings import Settings

ALGORITHM = "HS256"

_password_hash = PasswordHash((Argon2Hasher(),))


@functools.cache
def _unknown_account_hash() -> str:
    """Checked when no account has the email, so an unknown email costs as long as a wrong
    password; made on first use, not at every import of the gateway."""
    return _password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches `hashed`; None (no such account) never matches."""
    matches = _password_hash.verify(password, hashed or _unknown_account_hash())
    return matches and hashed is not None


class TokenSigner:
    """Issues and checks the access tokens, whose subject is the user's id."""

    def __init__(self, key: str, *, expire_minutes: int) -> None:
        self._key = key
        self._lifetime = timedelta(minutes=expire_minutes)

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenSigner":
        if settings.secret_key is not None:
            key = settings.secret_key.get_secret_value()
        else:
            key = local_secret_key(Path(settings.secret_key_file))
        return cls(key, expire_minutes=settings.access_token_expire_minutes)

    def issue(self, user_id: int) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._lifetime}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def user_id(self, token: str) -> int | None:
        """The user the token was issued to; None when it is forged, expired or malformed."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
            return int(claims["sub"])
        except (jwt.InvalidTokenError, ValueError):
            return None


def local_secret_key(path: Path) -> str:
    """The key in `path`, created (owner-only) on first use; for a gateway running alone."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another gateway process starting beside this one wrote it first
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
