"""Gathers the texts of concurrent scoring calls into shared `/classify` requests.

Under load the request, not the model, is what costs the model service: its HTTP path spends more
CPU per request than inference spends per text. So texts that arrive while calls are out leave
together in the next call (gateway.coalescer).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from gateway.coalescer import Coalescer
from gateway.scoring.client import ModelServiceError, Prediction

Classify = Callable[[Sequence[str]], Awaitable[list[Prediction]]]
# A caller's predictions, or the error that is only its own (the service refused its text).
Outcome = list[Prediction] | Exception


@dataclass(eq=False)
class _Caller:
    texts: list[str]
    waiting: bool = True  # False once the caller has its answer or gave up


class ClassifyBatcher:
    """`classify(texts)` with the model client's contract, shared by concurrent callers."""

    def __init__(
        self, classify: Classify, *, max_texts: int, max_in_flight: int, timeout_s: float
    ) -> None:
        self._classify = classify
        self._timeout_s = timeout_s
        self._calls: Coalescer[_Caller, Outcome] = Coalescer(
            self._classify_together,
            max_items=max_texts,
            max_in_flight=max_in_flight,
            size=lambda caller: len(caller.texts),
            name="classify-batch",
        )

    async def classify(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order; errors are the model client's.

        Waiting for a free call counts against `timeout_s` too: past it, the caller gets a
        ModelServiceError (its texts are dropped from the queue, or their answer ignored).
        """
        if not texts:
            return []
        caller = _Caller(list(texts))
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome = await self._calls.submit(caller)
        except TimeoutError:
            raise ModelServiceError(
                f"no answer from the model service within {self._timeout_s:g} s"
            ) from None
        finally:
            caller.waiting = False
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _classify_together(self, callers: list[_Caller]) -> list[Outcome]:
        try:
            predictions = await self._classify([text for c in callers for text in c.texts])
        except ModelServiceError as error:
            if not (error.input_refused and len(callers) > 1):
                raise
            # The service refused some caller's text: ask again per caller, so that only the
            # caller who sent it hears of it.
            return await asyncio.gather(*(self._classify_alone(caller) for caller in callers))
        outcomes: list[Outcome] = []
        start = 0
        for caller in callers:
            outcomes.append(predictions[start : start + len(caller.texts)])
            start += len(caller.texts)
        return outcomes

    async def _classify_alone(self, caller: _Caller) -> Outcome:
        if not caller.waiting:
            return []  # a caller that gave up meanwhile wants nothing
        try:
            return await self._classify(caller.texts)
        except Exception as error:  # the model client's error, or a fault of this process
            return error
