"""BentoML's request path with its two per-request wastes patched out, and what it still promises.

The served tests check that the service's workers run with the patches applied.
"""

import asyncio

import bentoml
import pytest
from _bentoml_sdk.method import APIMethod
from bentoml._internal.server.http import traffic

from model_service import request_path


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @bentoml.api
    def greet(self, name: str) -> str:
        return f"{name}, {self.greeting}"


@pytest.fixture
def bentoml_own(monkeypatch):
    """BentoML's own path, restored after the test whatever this process patched before."""
    monkeypatch.setattr(APIMethod, "__get__", request_path._bentoml_get)
    monkeypatch.setattr(traffic, "TimeoutMiddleware", request_path._bentoml_timeout_middleware)


def test_bentoml_alone_builds_the_api_caller_on_every_access(bentoml_own):
    greeter = Greeter("hello")
    assert greeter.greet is not greeter.greet
    assert not request_path.request_path_trimmed()


def test_trimmed_the_caller_is_built_once_per_instance_and_calls_its_own(bentoml_own):
    request_path.trim_request_path()
    hello, bye = Greeter("hello"), Greeter("bye")

    assert request_path.request_path_trimmed()
    assert hello.greet is hello.greet
    assert hello.greet.local("민수") == "민수, hello"
    assert bye.greet.local("민수") == "민수, bye"
    assert isinstance(Greeter.greet, APIMethod)  # the class still sees the API itself


def response_after(wait_s: float, *, stream_for_s: float = 0.0, error: Exception | None = None):
    """An ASGI app that starts its answer after `wait_s`, then sends a body over `stream_for_s`."""

    async def app(scope, receive, send):
        await asyncio.sleep(wait_s)
        if error is not None:
            raise error
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"start,", "more_body": True})
        await asyncio.sleep(stream_for_s)
        await send({"type": "http.response.body", "body": b"end"})

    return app


async def call(middleware) -> tuple[int, bytes]:
    messages = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        messages.append(message)

    await middleware({"type": "http", "path": "/classify"}, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    return status, b"".join(
        m.get("body", b"") for m in messages if m["type"] != "http.response.start"
    )


@pytest.mark.parametrize(
    "middleware", [request_path.TimeoutMiddleware, request_path._bentoml_timeout_middleware]
)
def test_a_response_not_started_in_time_is_a_504_and_one_started_is_not_cut(middleware):
    slow = middleware(response_after(1.0), timeout=0.05)
    status, body = asyncio.run(call(slow))
    assert status == 504 and b"0.05 seconds" in body

    streaming = middleware(response_after(0.0, stream_for_s=0.2), timeout=0.05)
    assert asyncio.run(call(streaming)) == (200, b"start,end")


def test_the_apps_own_timeout_error_is_not_taken_for_the_deadline():
    failing = request_path.TimeoutMiddleware(response_after(0.0, error=TimeoutError()), timeout=5)
    with pytest.raises(TimeoutError):
        asyncio.run(call(failing))


@pytest.mark.parametrize(
    ("middleware", "tasks", "timers_left"),
    [(request_path.TimeoutMiddleware, 1, 0), (request_path._bentoml_timeout_middleware, 2, 50)],
    ids=["trimmed", "bentoml"],
)
def test_requests_run_in_their_own_task_and_leave_no_timer(middleware, tasks, timers_left):
    seen = []

    async def app(scope, receive, send):
        seen.append(len(asyncio.all_tasks()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def fifty_requests() -> int:
        for _ in range(50):
            await call(middleware(app, timeout=30))
        loop = asyncio.get_running_loop()
        return sum(not timer.cancelled() for timer in loop._scheduled)

    # asyncio's own loop, whose timers can be counted, whatever loop policy another test set.
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        assert runner.run(fifty_requests()) == timers_left
    assert set(seen) == {tasks}
