"""Field types shared by the request schemas: trimmed printable text, http(s) URLs, pagination."""

import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Query
from pydantic import AfterValidator, StringConstraints

# Tab, newline and carriage return are ordinary in reviews; other C0/C1 controls (NUL above all,
# which PostgreSQL cannot store) are refused.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

MAX_SKIP = 1_000_000
MAX_LIMIT = 500


def _printable(value: str) -> str:
    if _CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def text(*, min_length: int = 0, max_length: int) -> type[str]:
    """A string trimmed of surrounding whitespace, then held to these lengths."""
    return Annotated[  # type: ignore[return-value]
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_printable),
    ]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrlText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500),
    AfterValidator(_printable),
    AfterValidator(_http_url),
]

Skip = Annotated[int, Query(ge=0, le=MAX_SKIP, description="Items to skip, 0 to 1,000,000.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items to return, 1 to {MAX_LIMIT}.")]


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out, but not set to null")
    return value


NotNull = AfterValidator(_not_null)
