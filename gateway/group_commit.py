"""Writes of concurrent requests gathered into shared transactions (group commit).

Each review used to cost two transactions of its own: a worker-thread hand-off, a pool checkout
with its pre-ping, the ORM's per-statement work and a commit, twice per review. Under load that,
not the SQL, is what costs the gateway (docs/benchmarks/FINDINGS.md §4). Here, while
`max_in_flight` writes run, newly submitted items wait and go together in the next one: one
hand-off, one session and one commit for all of them. There is no timer: a group starts on the
next turn of the event loop, so an idle gateway writes an item at once, and a busy one groups
exactly as much as its load provides. Every caller still hears back only after the transaction
holding its item committed.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")


class NextTurn:
    """Calls `callback` once on the event loop's next turn, however often asked before it runs.

    What GroupCommit and the classify batcher start work with: the requests that arrive in the
    same turn then share the work even while a slot is free. Starting at once sent most items
    alone under load (docs/benchmarks/FINDINGS.md, section 4).
    """

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._scheduled = False

    def ask(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        self._callback()


class GroupCommit(Generic[Item, Result]):
    """`await submit(item)`: `write(items)`, run in a worker thread, answers each item in order.

    `write` gets the items of one group and returns one result per item, in order; an exception
    it raises is every caller's of that group. An item whose caller went away (cancelled) before
    its group started is not written.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        max_items: int,
        max_in_flight: int,
    ) -> None:
        self._write = write
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._waiting: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._in_flight = 0
        self._start_soon = NextTurn(self._start_groups)
        self._groups: set[asyncio.Task[None]] = set()  # strong references while they run

    async def submit(self, item: Item) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        self._start_soon.ask()
        return await answer

    def _start_groups(self) -> None:
        while self._in_flight < self._max_in_flight:
            group = self._next_group()
            if not group:
                return
            self._in_flight += 1
            task = asyncio.create_task(self._run(group), name="group-commit")
            self._groups.add(task)
            task.add_done_callback(self._groups.discard)

    def _next_group(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        while self._waiting and len(group) < self._max_items:
            item, answer = self._waiting.popleft()
            if not answer.done():
                group.append((item, answer))
        return group

    async def _run(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await run_in_threadpool(self._write, [item for item, _ in group])
        except asyncio.CancelledError:
            for _, answer in group:  # shutdown: nobody may be left waiting for this group
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
            self._start_groups()
