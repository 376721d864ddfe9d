"""Response bodies shared by several routes, and the error answers the OpenAPI document lists."""

from typing import Any

from pydantic import BaseModel, Field


class Message(BaseModel):
    message: str


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str
    message: str


class InvalidInput(BaseModel):
    detail: str = Field(description="Every problem in one line: `field: message; field: message`.")
    errors: list[FieldError]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such movie or review"}
}
INVALID_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": InvalidInput, "description": "Invalid input"}
}
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read (it is not UTF-8)"}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not signed in, or a bad token or key"}
}
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "Past an abuse limit; retry after Retry-After"}
}
WRITE = {**UNAUTHORIZED, **TOO_MANY}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "Signed in, but not allowed to do this"}
}
DATABASE_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "The database is unavailable; retry after Retry-After"}
}
