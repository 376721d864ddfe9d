"""`IdempotencyKeyDep`: the Idempotency-Key a create request was sent with, scoped to its caller;
`answered`: what a create route returns, a retry's replay included.

The header follows the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-header) and
Stripe's semantics: a retry with the same key and body gets the first answer, a key sent with
another body is refused.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel

from gateway.idempotency.models import MAX_KEY_LENGTH
from gateway.idempotency.service import KeyedWrite, Refusal, Replay, fingerprint
from gateway.schemas import ErrorBody
from gateway.users.dependencies import Caller, authenticated_caller

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_REUSED = (
    "was first used for a different request (another body or route); "
    "send a new key with a new request"
)
KEY_BUSY = "Another request with this Idempotency-Key was being answered at the same time; retry"

# The draft writes the key as a structured-field string, in quotes; Stripe's clients send it bare.
_QUOTED = re.compile(r'"((?:[^"\\]|\\["\\])*)"')
_PRINTABLE_ASCII = re.compile(r"[ -~]*")

R = TypeVar("R")

# The create routes' answers, as the OpenAPI document lists them.
CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Created; or, for a retry, the first request's answer",
        "headers": {
            REPLAYED_HEADER: {
                "description": "`true` when this answers a retry with an Idempotency-Key used "
                "before: nothing new was stored",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
}
KEY_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "What the Idempotency-Key's first request created has since been deleted",
    }
}


def _key(value: str | None) -> str | None:
    """The key sent: the header's value, without its quotes if it is quoted."""
    if value is None:
        return None
    quoted = _QUOTED.fullmatch(value)
    key = re.sub(r'\\(["\\])', r"\1", quoted.group(1)) if quoted else value
    if not key:
        raise ValueError("must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"must be at most {MAX_KEY_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(key):
        raise ValueError("must be printable ASCII, without control characters (a UUID, say)")
    return key


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "Makes the request safe to retry. A request with a key already used by the same "
            "caller and the same body stores nothing new and gets the first request's status "
            "and what it created, as it is now, with `Idempotent-Replayed: true`; with another "
            "body it is refused (422). A key is remembered for IDEMPOTENCY_KEY_TTL_HOURS (24 "
            "by default). Send a fresh one (a UUID) with each new request, the same one with "
            "its retries."
        ),
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    ),
    AfterValidator(_key),
]


@dataclass(frozen=True)
class SentKey:
    """The Idempotency-Key of a create request (None: sent without one), its caller's own."""

    caller: str
    key: str | None
    operation: str
    ttl: timedelta

    def guarding(self, body: BaseModel) -> KeyedWrite | None:
        """The write the key guards: this request's operation with this body."""
        if self.key is None:
            return None
        return KeyedWrite(self.caller, self.key, fingerprint(self.operation, body), self.ttl)


async def sent_key(
    request: Request,
    caller: Annotated[Caller, Depends(authenticated_caller)],
    key: IdempotencyKeyHeader = None,
) -> SentKey:
    """The request's key (async: no thread hand-off on the write path)."""
    return SentKey(
        caller=caller.limit_key,
        key=key,
        operation=f"{request.method} {request.url.path}",
        ttl=request.app.state.idempotency_key_ttl,
    )


IdempotencyKeyDep = Annotated[SentKey, Depends(sent_key)]


def answered(written: R | Replay[Any] | Refusal, response: Response, *, gone: str) -> R:
    """What a create route returns: what it created; for a retry, the first answer's status and
    the resource as it is now (409 with `gone` if it was deleted since); or the refusal."""
    if isinstance(written, Refusal):
        raise refusal_error(written)
    if not isinstance(written, Replay):
        return written
    if written.resource is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=gone)
    response.status_code = written.status_code
    response.headers[REPLAYED_HEADER] = "true"
    return written.resource


def refusal_error(refusal: Refusal) -> Exception:
    if refusal is Refusal.REUSED:
        return RequestValidationError(
            [{"loc": ("header", HEADER), "msg": KEY_REUSED, "type": "value_error"}]
        )
    return HTTPException(status.HTTP_409_CONFLICT, detail=KEY_BUSY)
