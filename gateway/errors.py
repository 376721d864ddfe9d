"""Exception handlers: every error leaves as JSON `{"detail": ...}` that a person can read."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.routing import Match

from gateway.schemas import FieldError, InvalidInput
from gateway.scoring.client import ModelServiceError

logger = logging.getLogger(__name__)

_RETRY_AFTER_S = "5"
# Where an error sits in the request; the field name alone is clearer to a reader.
_LOCATION_PARTS = {"body", "query", "path", "header", "cookie"}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)
    app.add_exception_handler(ModelServiceError, _model_service_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)


def invalid_input(field: str, message: str) -> RequestValidationError:
    """A 422 about one field of the body, found past the schema's own checks."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


def describe_validation_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors as field and message, without echoing the input back."""
    described = []
    for error in errors:
        path = [str(part) for part in error["loc"] if part not in _LOCATION_PARTS]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            path = ["body"]
            message = f"invalid JSON ({error.get('ctx', {}).get('error', 'unreadable')})"
        described.append(FieldError(field=".".join(path) or str(error["loc"][0]), message=message))
    return described


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = describe_validation_errors(exc.errors())
    detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
    return JSONResponse(
        InvalidInput(detail=detail, errors=errors).model_dump(),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _method_not_allowed(request: Request, _exc: Exception) -> JSONResponse:
    # Starlette's Allow names the methods of one route; a path here has a route per method.
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(allowed)},
    )


async def _model_service_error(_request: Request, exc: Exception) -> JSONResponse:
    return _unavailable(f"The model service is unavailable: {exc}")


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    return _unavailable("The database is unavailable; try again shortly")


async def _unexpected_error(_request: Request, _exc: Exception) -> JSONResponse:
    # Starlette logs the exception itself once this answer is sent.
    return JSONResponse(
        {"detail": "Internal server error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": _RETRY_AFTER_S},
    )
