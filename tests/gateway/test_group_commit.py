"""Group commit: writes of concurrent callers share one `write`, each caller hears its own result.

The write is a stand-in here, as the model service is in test_batcher: these tests are about how
items are gathered, answered and failed; test_reviews_written_together below and the gateway's
integration tests run the real inserts and score stores.
"""

import asyncio
import threading

import pytest
from sqlalchemy import select

from gateway.coalescer import Coalescer, group_commit
from gateway.movies.models import Movie
from gateway.reviews import service as review_service
from gateway.reviews.claims import new_claim
from gateway.reviews.models import Review, ReviewStatus
from gateway.reviews.schemas import ReviewCreate
from gateway.reviews.service import NewReview
from tests.gateway.factories import LEASE_S


class StandInWrite:
    """Records each group; answers item x with "wrote:x" once `release` is set (in its thread)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        assert self.release.wait(5)
        if self.fail:
            raise RuntimeError("database unavailable")
        return [f"wrote:{item}" for item in items]


async def until(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def first_write_running(group: Coalescer, write: StandInWrite) -> asyncio.Task:
    """Submit "a" and wait until its write runs (held until `write.release` is set)."""
    first = asyncio.create_task(group.submit("a"))
    await until(lambda: write.groups)
    return first


def test_items_submitted_while_a_write_runs_share_the_next_write():
    async def scenario():
        write = StandInWrite()
        group = group_commit(write, max_items=64, max_in_flight=1)
        first = await first_write_running(group, write)
        later = [asyncio.create_task(group.submit(item)) for item in "bcd"]
        await asyncio.sleep(0.05)
        assert write.groups == [["a"]]  # the others wait while the first write runs
        write.release.set()
        return write.groups, await asyncio.gather(first, *later)

    groups, results = asyncio.run(scenario())

    assert groups == [["a"], ["b", "c", "d"]]  # the first went at once, alone
    assert results == ["wrote:a", "wrote:b", "wrote:c", "wrote:d"]


def test_items_submitted_in_the_same_turn_share_a_write_while_a_slot_is_free():
    async def scenario():
        write = StandInWrite()
        write.release.set()
        group = group_commit(write, max_items=64, max_in_flight=2)
        results = await asyncio.gather(*(group.submit(item) for item in "abc"))
        return write.groups, results

    groups, results = asyncio.run(scenario())

    assert groups == [["a", "b", "c"]]  # not one write each, though two could run
    assert results == ["wrote:a", "wrote:b", "wrote:c"]


def test_a_write_holds_at_most_max_items_and_writes_in_flight_are_capped():
    async def scenario():
        write = StandInWrite()
        group = group_commit(write, max_items=2, max_in_flight=2)
        tasks = [asyncio.create_task(group.submit(item)) for item in "abcde"]
        await until(lambda: len(write.groups) == 2)
        await asyncio.sleep(0.05)
        # Submitted in one turn of the loop: two full writes run, "e" waits for a free one.
        assert sorted(write.groups) == [["a", "b"], ["c", "d"]]
        write.release.set()
        return write.groups, await asyncio.gather(*tasks)

    groups, results = asyncio.run(scenario())

    # The first two run at once, in two threads: either may record itself first.
    assert sorted(groups) == [["a", "b"], ["c", "d"], ["e"]]
    assert results == [f"wrote:{item}" for item in "abcde"]


def test_a_failed_write_fails_its_callers_and_the_next_write_goes_on():
    async def scenario():
        write = StandInWrite(fail=True)
        group = group_commit(write, max_items=64, max_in_flight=1)
        first = await first_write_running(group, write)
        second = asyncio.create_task(group.submit("b"))
        write.release.set()
        with pytest.raises(RuntimeError, match="database unavailable"):
            await first
        with pytest.raises(RuntimeError, match="database unavailable"):
            await second
        write.fail = False
        return await group.submit("c")

    assert asyncio.run(scenario()) == "wrote:c"


def test_a_caller_who_went_away_before_its_write_is_not_written():
    async def scenario():
        write = StandInWrite()
        group = group_commit(write, max_items=64, max_in_flight=1)
        first = await first_write_running(group, write)
        gone, kept = (asyncio.create_task(group.submit(item)) for item in "bc")
        await asyncio.sleep(0.01)
        gone.cancel()
        write.release.set()
        return write.groups, await asyncio.gather(first, kept)

    groups, results = asyncio.run(scenario())

    assert groups == [["a"], ["c"]]
    assert results == ["wrote:a", "wrote:c"]


def add_movie(session) -> int:
    movie = Movie(title="영화")
    session.add(movie)
    session.commit()
    return movie.id


def new_review(movie_id: int, content: str) -> NewReview:
    review_in = ReviewCreate(movie_id=movie_id, author="a", content=content)
    return NewReview(review_in, new_claim(LEASE_S))


def test_reviews_written_together_are_stored_pending_and_a_missing_movie_gets_none(
    session_factory,
):
    with session_factory() as session:
        movie_id = add_movie(session)
    batch = [
        new_review(movie_id, "첫 번째 리뷰"),
        new_review(movie_id + 1000, "없는 영화의 리뷰"),
        new_review(2**40, "범위 밖의 영화"),
        new_review(movie_id, "두 번째 리뷰"),
    ]
    with session_factory() as session:
        stored = review_service.create_many(session=session, new_reviews=batch)

    assert [review is None for review in stored] == [False, True, True, False]
    with session_factory() as session:
        rows = session.scalars(select(Review).order_by(Review.id)).all()
    assert [(row.id, row.content, row.status) for row in rows] == [
        (stored[0].id, "첫 번째 리뷰", ReviewStatus.PENDING),
        (stored[3].id, "두 번째 리뷰", ReviewStatus.PENDING),
    ]
    assert rows[0].claim_token == batch[0][1].token


def test_a_movie_deleted_after_the_check_turns_away_only_its_reviews(session_factory, monkeypatch):
    with session_factory() as session:
        kept, deleted = add_movie(session), add_movie(session)
        session.delete(session.get(Movie, deleted))
        session.commit()
    # The check ran before the delete: it still saw both movies, so the insert meets the FK.
    monkeypatch.setattr(review_service, "existing_movie_ids", lambda session, ids: set(ids))
    batch = [new_review(kept, "남은 영화의 리뷰"), new_review(deleted, "지워진 영화의 리뷰")]
    with session_factory() as session:
        stored = review_service.create_many(session=session, new_reviews=batch)

    assert stored[0] is not None and stored[1] is None
    with session_factory() as session:
        assert session.scalars(select(Review.content)).all() == ["남은 영화의 리뷰"]
