"""Reads that meet an unavailable database get one more try; writes never do."""

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.read_retry import ReadRetryMiddleware
from tests.support.asgi import TestClient


def flaky_app(failures: int) -> tuple[Starlette, list[str]]:
    """Answers 503 to its first `failures` calls, then 200; records each call's method."""
    calls: list[str] = []

    async def answer(request: Request) -> JSONResponse:
        calls.append(request.method)
        if len(calls) <= failures:
            return JSONResponse({"detail": "The database is unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/movies/", answer, methods=["GET", "POST"])]), calls


def client(app: Starlette) -> TestClient:
    return TestClient(ReadRetryMiddleware(app, attempts=2, pause_s=0))


def test_a_read_that_met_one_outage_answers_from_its_retry() -> None:
    app, calls = flaky_app(failures=1)
    response = client(app).get("/movies/")
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert calls == ["GET", "GET"]


def test_a_lasting_outage_still_answers_503() -> None:
    app, calls = flaky_app(failures=5)
    response = client(app).get("/movies/")
    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable"}
    assert calls == ["GET", "GET"]


@pytest.mark.parametrize("failures", [0, 1])
def test_writes_are_never_repeated(failures: int) -> None:
    app, calls = flaky_app(failures=failures)
    response = client(app).post("/movies/")
    assert response.status_code == (503 if failures else 200)
    assert calls == ["POST"]
