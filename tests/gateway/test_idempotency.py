"""Idempotency keys in the database, on SQLite and PostgreSQL: a key is stored with its write in one
transaction, a retry gets the first answer, a concurrent retry waits for the first transaction.

The routes over these, through real gateway processes, are in test_idempotent_posts.py.
"""

import asyncio
import threading
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from gateway.database import Base, utcnow
from gateway.idempotency import service as idempotency
from gateway.idempotency.models import IdempotencyKey
from gateway.idempotency.service import KeyedWrite, Refusal, Replay, fingerprint
from gateway.movies import service as movie_service
from gateway.movies.models import Movie
from gateway.movies.schemas import MovieCreate
from gateway.reviews import service as review_service
from gateway.reviews.claims import new_claim
from gateway.reviews.models import Review, ReviewStatus
from gateway.reviews.schemas import ReviewCreate
from gateway.reviews.service import NewReview
from tests.gateway.factories import LEASE_S
from tests.gateway.test_group_commit import add_movie

TTL = timedelta(hours=24)
MACHINE = "key:0"
MISSING_MOVIE = 2_000_000_000


def guarded(body, key: str, caller: str = MACHINE, operation: str = "POST /reviews/"):
    return KeyedWrite(caller, key, fingerprint(operation, body), TTL)


def new(movie_id: int, content: str, key: str | None = None, caller: str = MACHINE) -> NewReview:
    body = ReviewCreate(movie_id=movie_id, author="관객", content=content)
    return NewReview(body, new_claim(LEASE_S), guarded(body, key, caller) if key else None)


def write(session_factory, *new_reviews: NewReview) -> list:
    with session_factory() as session:
        return review_service.create_many(session=session, new_reviews=list(new_reviews))


def stored_reviews(session_factory) -> list[tuple[int, str]]:
    with session_factory() as session:
        return [(r.id, r.content) for r in session.scalars(select(Review).order_by(Review.id))]


def stored_keys(session_factory) -> dict[tuple[str, str], int]:
    with session_factory() as session:
        return {(k.caller, k.key): k.resource_id for k in session.scalars(select(IdempotencyKey))}


def expire(session_factory, *, ago: timedelta = timedelta(seconds=1)) -> None:
    """Time-travel: every stored key expired `ago`."""
    with session_factory() as session:
        session.execute(update(IdempotencyKey).values(expires_at=utcnow() - ago))
        session.commit()


def test_reviews_of_one_group_that_share_a_key_are_stored_once_and_answered_alike(
    session_factory,
):
    with session_factory() as session:
        movie_id = add_movie(session)

    first, retry, unkeyed, reused, others = write(
        session_factory,
        new(movie_id, "첫 번째 리뷰입니다", "k1"),
        new(movie_id, "첫 번째 리뷰입니다", "k1"),
        new(movie_id, "키 없는 리뷰입니다"),
        new(movie_id, "다른 내용의 리뷰입니다", "k1"),
        new(movie_id, "첫 번째 리뷰입니다", "k1", caller="user:7"),  # another caller's k1
    )

    assert isinstance(first, Review) and isinstance(unkeyed, Review) and isinstance(others, Review)
    assert retry == Replay(201, first)
    assert reused is Refusal.REUSED
    assert stored_reviews(session_factory) == [
        (first.id, "첫 번째 리뷰입니다"),
        (unkeyed.id, "키 없는 리뷰입니다"),
        (others.id, "첫 번째 리뷰입니다"),
    ]
    assert stored_keys(session_factory) == {(MACHINE, "k1"): first.id, ("user:7", "k1"): others.id}


def test_a_key_stored_before_gets_its_first_answer_with_the_review_as_it_is_now(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)
    [first] = write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))
    with session_factory() as session:
        session.execute(
            update(Review).values(status=ReviewStatus.SCORED, sentiment_label="positive")
        )
        session.commit()

    retries = write(
        session_factory,
        new(movie_id, "첫 번째 리뷰입니다", "k1"),
        new(movie_id, "첫 번째 리뷰입니다", "k1"),
    )

    for retry in retries:
        assert isinstance(retry, Replay) and retry.status_code == 201
        assert (retry.resource.id, retry.resource.status) == (first.id, "scored")
    assert stored_reviews(session_factory) == [(first.id, "첫 번째 리뷰입니다")]


def test_a_key_sent_with_another_body_is_refused_and_stores_nothing(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)
    [first] = write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))

    answers = write(
        session_factory,
        new(movie_id, "고쳐 쓴 리뷰입니다", "k1"),
        new(MISSING_MOVIE, "첫 번째 리뷰입니다", "k1"),  # refused for its key before its movie
        new(MISSING_MOVIE, "없는 영화의 리뷰입니다", "k2"),  # a key never used: plain 404
    )

    assert answers == [Refusal.REUSED, Refusal.REUSED, None]
    assert stored_reviews(session_factory) == [(first.id, "첫 번째 리뷰입니다")]
    assert stored_keys(session_factory) == {(MACHINE, "k1"): first.id}


def test_an_expired_key_counts_as_new(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)
    [first] = write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))
    expire(session_factory)

    [again] = write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))

    assert isinstance(again, Review) and again.id != first.id
    assert [review_id for review_id, _ in stored_reviews(session_factory)] == [first.id, again.id]
    assert stored_keys(session_factory) == {(MACHINE, "k1"): again.id}


def test_a_retry_after_its_review_or_movie_was_deleted_replays_nothing(session_factory):
    with session_factory() as session:
        kept, deleted = add_movie(session), add_movie(session)
    [review] = write(session_factory, new(kept, "지워질 리뷰입니다", "k1"))
    write(session_factory, new(deleted, "영화와 함께 지워질 리뷰", "k2"))
    with session_factory() as session:
        session.delete(session.get(Review, review.id))
        session.delete(session.get(Movie, deleted))
        session.commit()

    answers = write(
        session_factory,
        new(kept, "지워질 리뷰입니다", "k1"),
        new(deleted, "영화와 함께 지워질 리뷰", "k2"),
    )

    assert answers == [Replay(201, None), Replay(201, None)]
    assert stored_reviews(session_factory) == []


class HeldCommit:
    """Holds a session's next commit (its writes done, its locks held) until `release` is set;
    then lets it through, or fails it if `fail`."""

    def __init__(self, *, fail: bool = False) -> None:
        self.reached, self.release, self.fail = threading.Event(), threading.Event(), fail

    def on(self, session) -> None:
        event.listen(session, "before_commit", self._before_commit, once=True)

    def _before_commit(self, _session) -> None:
        self.reached.set()
        assert self.release.wait(10), "the commit was never released"
        if self.fail:
            raise RuntimeError("the first request's transaction failed")


def first_and_retry(session_factory, movie_id: int, *, first_fails: bool) -> tuple[list, list]:
    """A first write held at its commit, and a retry with its key sent meanwhile: both answers.
    The retry must still be waiting when the first is let through."""
    held, answers = HeldCommit(fail=first_fails), {}
    body = "첫 번째 리뷰입니다"

    def first() -> None:
        with session_factory() as session:
            held.on(session)
            try:
                answers["first"] = review_service.create_many(
                    session=session, new_reviews=[new(movie_id, body, "k1")]
                )
            except RuntimeError as error:
                answers["first"] = [error]

    def retry() -> None:
        answers["retry"] = write(session_factory, new(movie_id, body, "k1"))

    threads = [threading.Thread(target=first), threading.Thread(target=retry)]
    threads[0].start()
    assert held.reached.wait(10)
    threads[1].start()
    threads[1].join(0.5)
    retry_waited = threads[1].is_alive()
    held.release.set()
    for thread in threads:
        thread.join(10)
    assert retry_waited, "the retry did not wait for the first request's transaction"
    return answers["first"], answers["retry"]


def test_a_retry_during_the_first_transaction_waits_for_it_and_gets_its_review(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)

    [first], [retry] = first_and_retry(session_factory, movie_id, first_fails=False)

    assert isinstance(first, Review)
    assert isinstance(retry, Replay) and retry.resource.id == first.id
    assert stored_reviews(session_factory) == [(first.id, "첫 번째 리뷰입니다")]


def test_a_retry_takes_the_key_when_the_first_transaction_fails(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)

    [first], [retry] = first_and_retry(session_factory, movie_id, first_fails=True)

    assert isinstance(first, RuntimeError)
    assert isinstance(retry, Review)
    assert stored_reviews(session_factory) == [(retry.id, "첫 번째 리뷰입니다")]
    assert stored_keys(session_factory) == {(MACHINE, "k1"): retry.id}


def test_a_taken_key_whose_first_answer_cannot_be_read_is_refused_as_busy(
    session_factory, monkeypatch
):
    with session_factory() as session:
        movie_id = add_movie(session)
    write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))
    monkeypatch.setattr(idempotency, "earlier", lambda *_args: {})  # purged in between, say

    assert write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1")) == [Refusal.BUSY]
    assert len(stored_reviews(session_factory)) == 1


def test_a_movie_created_with_a_key_is_created_once(session_factory):
    body, other = MovieCreate(title="괴물"), MovieCreate(title="괴물 2")
    key = guarded(body, "m1", operation="POST /movies/")

    def create(movie_in: MovieCreate, sent: KeyedWrite):
        with session_factory() as session:
            return movie_service.create(session=session, movie_in=movie_in, key=sent)

    first = create(body, key)
    retry = create(body, key)
    reused = create(other, guarded(other, "m1", operation="POST /movies/"))
    review_key = create(body, guarded(body, "m1"))  # the same body, sent to another route

    assert isinstance(first, Movie)
    assert isinstance(retry, Replay) and (retry.status_code, retry.resource.id) == (201, first.id)
    assert reused is Refusal.REUSED and review_key is Refusal.REUSED
    with session_factory() as session:
        assert session.scalars(select(Movie.id)).all() == [first.id]


def test_purge_deletes_only_keys_expired_longer_than_the_grace(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)
    write(session_factory, *(new(movie_id, f"리뷰 번호 {n}", f"k{n}") for n in range(3)))
    with session_factory() as session:
        for key, expires_at in (
            ("k0", utcnow() + timedelta(hours=1)),
            ("k1", utcnow() - timedelta(minutes=5)),  # expired, within the grace
            ("k2", utcnow() - idempotency.PURGE_GRACE - timedelta(minutes=1)),
        ):
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(expires_at=expires_at)
            )
        session.commit()

    with session_factory() as session:
        assert idempotency.purge_expired(session) == 1
    assert {key for _, key in stored_keys(session_factory)} == {"k0", "k1"}


def test_the_purge_loop_outlives_a_failed_round(session_factory):
    with session_factory() as session:
        movie_id = add_movie(session)
    write(session_factory, new(movie_id, "첫 번째 리뷰입니다", "k1"))
    expire(session_factory, ago=idempotency.PURGE_GRACE * 2)
    calls = []

    def flaky_factory():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("the database restarts"))
        return session_factory()

    async def scenario() -> None:
        purging = asyncio.create_task(
            idempotency.run_purge(flaky_factory, first_after_s=0, interval_s=0.01)
        )
        for _ in range(500):
            if not stored_keys(session_factory):
                break
            await asyncio.sleep(0.01)
        purging.cancel()

    asyncio.run(scenario())
    assert len(calls) >= 2
    assert stored_keys(session_factory) == {}


def test_the_migration_makes_the_table_the_model_describes(migrated_database):
    with migrated_database.kw["bind"].connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "idempotency_keys" in repr(d)] == []
