"""Field types shared by the request schemas: trimmed printable text, http(s) URLs, pagination."""

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

# Tab, newline and carriage return are ordinary in reviews; other C0/C1 controls (NUL above all,
# which PostgreSQL cannot store) are refused.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL_CHARACTERS = re.compile(f"[{_CONTROL}]")

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
        Field(json_schema_extra={"pattern": _documented_pattern(min_length)}),
    ]


def _documented_pattern(min_length: int) -> str:
    """What the validators accept, as a regex for the OpenAPI document (the validators' messages
    are clearer than a pattern mismatch): no control characters, and at least `min_length`
    characters from the first non-blank one to the last."""
    printable, solid = f"[^{_CONTROL}]", rf"[^\s{_CONTROL}]"
    if min_length == 0:
        return f"^{printable}*$"
    if min_length == 1:
        return f"^{printable}*{solid}{printable}*$"
    return f"^{printable}*{solid}{printable}{{{min_length - 2},}}{solid}{printable}*$"


# Scheme, host (no user part, no IPv6 literal), optional port, then anything printable.
_HTTP_URL = rf"[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@:\[\]{_CONTROL}]+(:[0-9]*)?([/?#][^\s{_CONTROL}]*)?"


def _http_url(value: str) -> str:
    if not re.fullmatch(_HTTP_URL, value):
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrlText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500),
    AfterValidator(_http_url),
    Field(json_schema_extra={"pattern": rf"^\s*{_HTTP_URL}\s*$"}),
]

Skip = Annotated[int, Query(ge=0, le=MAX_SKIP, description="Items to skip, 0 to 1,000,000.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items to return, 1 to {MAX_LIMIT}.")]


def _iso_date(value: object) -> object:
    # Pydantic alone would also take a Unix timestamp or a datetime string for a date.
    if isinstance(value, date) or (
        isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    ):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out, but not set to null")
    return value


def _document_without_null(schema: dict[str, Any]) -> None:
    variants = schema.pop("anyOf", [])
    schema.update(next(variant for variant in variants if variant.get("type") != "null"))


def not_null(field_type: Any) -> Any:
    """For PATCH bodies: the field may be left out, but `null` is refused (and not documented)."""
    return Annotated[
        field_type | None,
        AfterValidator(_not_null),
        Field(json_schema_extra=_document_without_null),
    ]
