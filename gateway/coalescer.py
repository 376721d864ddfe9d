"""Concurrent callers' items gathered into shared calls: what waits goes together in the next one.

While `max_in_flight` calls run, newly submitted items wait. There is no timer: a call starts on
the event loop's next turn, so an idle gateway sends an item at once, the items submitted in one
turn share a call even while a slot is free, and a busy gateway groups exactly as much as its load
provides. The group commit (`group_commit`) and the classify batcher are the two uses.
"""

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")

Run = Callable[[list[Item]], Awaitable[Sequence[Result]]]


class Coalescer(Generic[Item, Result]):
    """`await submit(item)`: `run(items)` for the items waiting together, each caller its result.

    `run` gets the items of one group, oldest first, and returns one result per item, in order;
    an exception it raises is every caller's of that group. A group holds items up to a total
    `size` of `max_items` (an item larger than that goes alone). An item whose caller went away
    (cancelled) before its group started is not run; one that goes away later gets no answer.
    """

    def __init__(
        self,
        run: Run[Item, Result],
        *,
        max_items: int,
        max_in_flight: int,
        size: Callable[[Item], int] = lambda _item: 1,
        name: str = "coalesced-call",
    ) -> None:
        self._run = run
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._size = size
        self._name = name
        self._waiting: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._in_flight = 0
        self._start_scheduled = False
        self._calls: set[asyncio.Task[None]] = set()  # strong references while they run

    @property
    def waiting(self) -> int:
        """Items submitted and not yet in a call."""
        return len(self._waiting)

    async def submit(self, item: Item) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if not self._start_scheduled:  # once per turn, however many items arrive in it
            self._start_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_on_this_turn)
        return await answer

    def _start_on_this_turn(self) -> None:
        self._start_scheduled = False
        self._start_calls()

    def _start_calls(self) -> None:
        while self._in_flight < self._max_in_flight:
            group = self._next_group()
            if not group:
                return
            self._in_flight += 1
            call = asyncio.create_task(self._call(group), name=self._name)
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    def _next_group(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        total = 0
        while self._waiting:
            item, answer = self._waiting[0]
            if answer.done():
                self._waiting.popleft()
                continue
            if group and total + self._size(item) > self._max_items:
                break
            group.append(self._waiting.popleft())
            total += self._size(item)
        return group

    async def _call(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _ in group])
        except asyncio.CancelledError:
            for _, answer in group:  # shutdown: nobody may be left waiting for this call
                answer.cancel()
            raise
        except Exception as error:
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(error)
        else:
            for (_, answer), result in zip(group, results, strict=True):
                if not answer.done():
                    answer.set_result(result)
        finally:
            self._in_flight -= 1
            self._start_calls()


def group_commit(
    write: Callable[[list[Item]], Sequence[Result]], *, max_items: int, max_in_flight: int
) -> Coalescer[Item, Result]:
    """Writes of concurrent requests in shared transactions: `write(items)` in a worker thread.

    One thread hand-off, one session and one commit for a whole group; every caller hears back
    only after the transaction holding its item committed.
    """
    return Coalescer(
        functools.partial(run_in_threadpool, write),
        max_items=max_items,
        max_in_flight=max_in_flight,
        name="group-commit",
    )
