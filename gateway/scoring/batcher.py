"""Gathers the texts of concurrent scoring calls into shared `/classify` requests.

Each review scored inline used to cost the model service an HTTP request of its own, and under
load the request, not the model, is what costs there: the service's HTTP path spends more CPU per
request than inference spends per text (docs/benchmarks/FINDINGS.md). Here, while `max_in_flight`
calls are out, texts that arrive wait and leave together in the next call. There is no timer: a
call leaves on the next turn of the event loop, so an idle gateway sends a text at once, and a busy
one batches exactly as much as its load provides.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from gateway.group_commit import NextTurn
from gateway.scoring.client import ModelServiceError, Prediction

Classify = Callable[[Sequence[str]], Awaitable[list[Prediction]]]


@dataclass
class _Caller:
    texts: list[str]
    answer: asyncio.Future[list[Prediction]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def resolve(self, predictions: list[Prediction]) -> None:
        if not self.answer.done():  # a caller that gave up (cancelled) wants nothing
            self.answer.set_result(predictions)

    def fail(self, error: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)


class ClassifyBatcher:
    """`classify(texts)` with the model client's contract, shared by concurrent callers."""

    def __init__(
        self, classify: Classify, *, max_texts: int, max_in_flight: int, timeout_s: float
    ) -> None:
        self._classify = classify
        self._max_texts = max_texts
        self._max_in_flight = max_in_flight
        self._timeout_s = timeout_s
        self._waiting: deque[_Caller] = deque()
        self._in_flight = 0
        self._send_soon = NextTurn(self._send_what_waits)
        self._calls: set[asyncio.Task[None]] = set()  # strong references while they run

    async def classify(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order; errors are the model client's.

        Waiting for a free call counts against `timeout_s` too: past it, the caller gets a
        ModelServiceError (its texts are dropped from the queue, or their answer ignored).
        """
        if not texts:
            return []
        caller = _Caller(list(texts))
        self._waiting.append(caller)
        self._send_soon.ask()
        try:
            return await asyncio.wait_for(caller.answer, self._timeout_s)
        except TimeoutError:
            raise ModelServiceError(
                f"no answer from the model service within {self._timeout_s:g} s"
            ) from None

    def _send_what_waits(self) -> None:
        while self._in_flight < self._max_in_flight:
            callers = self._next_call()
            if not callers:
                return
            self._in_flight += 1
            call = asyncio.create_task(self._call(callers), name="classify-batch")
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    def _next_call(self) -> list[_Caller]:
        """Waiting callers, oldest first, up to `max_texts` texts (a larger caller goes alone)."""
        callers: list[_Caller] = []
        count = 0
        while self._waiting:
            caller = self._waiting[0]
            if caller.answer.done():
                self._waiting.popleft()
                continue
            if callers and count + len(caller.texts) > self._max_texts:
                break
            callers.append(self._waiting.popleft())
            count += len(caller.texts)
        return callers

    async def _call(self, callers: list[_Caller]) -> None:
        try:
            await self._answer(callers)
        finally:
            self._in_flight -= 1
            self._send_what_waits()

    async def _answer(self, callers: list[_Caller]) -> None:
        try:
            predictions = await self._classify([text for c in callers for text in c.texts])
        except ModelServiceError as error:
            if error.input_refused and len(callers) > 1:
                # The service refused some caller's text: ask again per caller, so that only
                # the caller who sent it hears of it.
                waiting = [caller for caller in callers if not caller.answer.done()]
                await asyncio.gather(*(self._answer([caller]) for caller in waiting))
                return
            for caller in callers:
                caller.fail(error)
            return
        except asyncio.CancelledError:
            for caller in callers:  # shutdown: nobody may be left waiting for this call
                caller.answer.cancel()
            raise
        except Exception as error:  # a fault of this process: the callers report it
            for caller in callers:
                caller.fail(error)
            return
        start = 0
        for caller in callers:
            caller.resolve(predictions[start : start + len(caller.texts)])
            start += len(caller.texts)
