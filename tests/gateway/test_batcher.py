"""The classify batcher: concurrent callers share /classify calls, each hears only its own.

The model service is a stand-in here: these tests are about how calls are gathered, split and
failed; the gateway's integration tests run the batcher against a real model service.
"""

import asyncio

import pytest

from gateway.scoring.batcher import ClassifyBatcher
from gateway.scoring.client import ModelServiceError, Prediction
from tests.gateway.factories import predict


class StandInModelService:
    """Answers each text with a prediction naming it; a call waits until `release` is set."""

    def __init__(self, *, down: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.down = down

    async def classify(self, texts: list[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        await self.release.wait()
        if self.down:
            raise ModelServiceError("the model service is unreachable")
        if any("refused" in text for text in texts):
            raise ModelServiceError("bad input", status_code=400)
        return [predict(model=f"scored:{text}") for text in texts]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def answers(results: list) -> list:
    return [
        [p.model for p in result] if isinstance(result, list) else type(result).__name__
        for result in results
    ]


def test_callers_who_arrive_while_a_call_is_out_share_the_next_call():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=5)
        first = asyncio.create_task(batcher.classify(["a"]))
        await settle()
        later = [asyncio.create_task(batcher.classify([text])) for text in ("b", "c", "d")]
        await settle()
        service.release.set()
        return service.calls, await asyncio.gather(first, *later)

    calls, results = asyncio.run(scenario())

    assert calls == [["a"], ["b", "c", "d"]]  # the first went at once, alone
    assert answers(results) == [["scored:a"], ["scored:b"], ["scored:c"], ["scored:d"]]


def test_a_call_carries_at_most_max_texts_and_callers_keep_their_order():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=3, max_in_flight=1, timeout_s=5)
        callers = [["a"], ["b", "c"], ["d", "e"], ["f"], ["g", "h", "i", "j"]]
        tasks = [asyncio.create_task(batcher.classify(texts)) for texts in callers]
        await settle()
        service.release.set()
        return service.calls, await asyncio.gather(*tasks)

    calls, results = asyncio.run(scenario())

    # A caller larger than max_texts goes alone rather than being split or refused here.
    assert calls == [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i", "j"]]
    assert answers(results) == [
        ["scored:a"],
        ["scored:b", "scored:c"],
        ["scored:d", "scored:e"],
        ["scored:f"],
        ["scored:g", "scored:h", "scored:i", "scored:j"],
    ]


def test_callers_who_arrive_in_the_same_turn_share_a_call_while_a_slot_is_free():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=2, timeout_s=5)
        tasks = [asyncio.create_task(batcher.classify([text])) for text in "abc"]
        await settle()
        service.release.set()
        return service.calls, await asyncio.gather(*tasks)

    calls, results = asyncio.run(scenario())

    assert calls == [["a", "b", "c"]]  # not one call each, though two could be out
    assert answers(results) == [["scored:a"], ["scored:b"], ["scored:c"]]


def test_calls_in_flight_are_capped():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=2, max_in_flight=2, timeout_s=5)
        tasks = [asyncio.create_task(batcher.classify([text])) for text in "abcde"]
        await settle()
        out_before_release = len(service.calls)
        service.release.set()
        await asyncio.gather(*tasks)
        return out_before_release, service.calls

    out_before_release, calls = asyncio.run(scenario())

    assert out_before_release == 2
    assert calls == [["a", "b"], ["c", "d"], ["e"]]


def test_a_refused_text_fails_only_the_caller_who_sent_it():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=5)
        first = asyncio.create_task(batcher.classify(["a"]))
        await settle()
        texts = (["b"], ["refused"], ["c", "d"])
        later = [asyncio.create_task(batcher.classify(t)) for t in texts]
        await settle()
        service.release.set()
        results = await asyncio.gather(first, *later, return_exceptions=True)
        return service.calls, results

    calls, results = asyncio.run(scenario())

    assert calls[:2] == [["a"], ["b", "refused", "c", "d"]]
    assert sorted(calls[2:]) == [["b"], ["c", "d"], ["refused"]]  # asked again, per caller
    assert answers(results) == [
        ["scored:a"],
        ["scored:b"],
        "ModelServiceError",
        ["scored:c", "scored:d"],
    ]
    assert results[2].input_refused


def test_an_unavailable_service_fails_every_caller_of_the_call():
    async def scenario():
        service = StandInModelService(down=True)
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=5)
        tasks = [asyncio.create_task(batcher.classify([text])) for text in "abc"]
        await settle()
        service.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(scenario())

    assert answers(results) == ["ModelServiceError"] * 3
    assert not any(error.input_refused for error in results)


def test_a_caller_who_gives_up_is_skipped_and_the_others_are_answered():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=5)
        first = asyncio.create_task(batcher.classify(["a"]))
        await settle()
        leaving = asyncio.create_task(batcher.classify(["b"]))
        staying = asyncio.create_task(batcher.classify(["c"]))
        await settle()
        leaving.cancel()
        service.release.set()
        results = await asyncio.gather(first, staying)
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return service.calls, results

    calls, results = asyncio.run(scenario())

    assert calls == [["a"], ["c"]]
    assert answers(results) == [["scored:a"], ["scored:c"]]


def test_no_texts_make_no_call():
    async def scenario():
        service = StandInModelService()
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=5)
        return service.calls, await batcher.classify([])

    assert asyncio.run(scenario()) == ([], [])


def test_a_caller_waits_at_most_the_timeout_queue_included():
    async def scenario():
        service = StandInModelService()  # never released: the first call hangs
        batcher = ClassifyBatcher(service.classify, max_texts=64, max_in_flight=1, timeout_s=0.05)
        hanging = asyncio.create_task(batcher.classify(["a"]))
        await settle()
        queued = asyncio.create_task(batcher.classify(["b"]))
        results = await asyncio.gather(hanging, queued, return_exceptions=True)
        service.release.set()
        await settle()
        return service.calls, results

    calls, results = asyncio.run(scenario())

    assert answers(results) == ["ModelServiceError", "ModelServiceError"]
    assert "within 0.05 s" in str(results[1])
    assert calls == [["a"]]  # the queued caller's text was never sent
