"""A load of review posts kept outcome by outcome, and the database read back to account for it.

Every review carries a marker unique to its request, so each stored row is matched to the request
that wrote it: accepted and stored, accepted and lost, refused yet stored, stored twice. With
`retry_with_key`, each review is sent with an Idempotency-Key of its own and tried again with that
key while no answer comes, as a careful client does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from gateway.database import create_db_engine, create_session_factory
from gateway.reviews.models import Review, ReviewStatus
from gateway.settings import Settings
from stack.parts import MACHINE_HEADERS
from tests.reliability.ledger import NO_ANSWER

# Loads send many writes from one address; the rate limit has tests of its own.
NO_WRITE_LIMIT = {"GATEWAY_WRITE_LIMIT": ""}
# Claims of cut-off requests lapse after a few seconds (the lease must outlast a model call).
SHORT_LEASE = {"SCORER_LEASE_S": "6", "SCORING_TIMEOUT_S": "3",
               "MODEL_SERVICE_CONNECT_TIMEOUT_S": "1"}  # fmt: skip
_RETRY_PAUSE_S = 0.25
# Answers that say nothing was decided: no answer at all, or the database unavailable.
_TRY_AGAIN = (NO_ANSWER, 503)
SENTIMENT_COLUMNS = ("sentiment_label", "sentiment_score", "positivity", "probabilities",
                     "sentiment_model", "scored_at")  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    marker: str
    status: int | str  # the HTTP status, or NO_ANSWER
    review_id: int | None = None
    review_status: str | None = None  # scored or pending, for an accepted review
    tries: int = 1
    replayed: bool = False  # answered from the review an earlier try with the same key stored


class ReviewLoad:
    """`threads` clients posting reviews of one movie until stopped or `limit` are sent.

    With `retry_with_key`, a review that got no answer (or a 503) is sent again with its key
    until it gets one, for up to `give_up_s`; its outcome is the last try's.
    """

    def __init__(
        self,
        base_url: str,
        movie_id: int,
        *,
        threads: int = 3,
        limit: int = 400,
        pause_s: float = 0.02,
        retry_with_key: bool = False,
        timeout_s: float = 30.0,
        give_up_s: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.movie_id = movie_id
        self.limit = limit
        self.pause_s = pause_s
        self.retry_with_key = retry_with_key
        self.timeout_s = timeout_s
        self.give_up_s = give_up_s
        self.run = uuid.uuid4().hex[:10]
        self.unanswered_tries = 0
        self._sent = 0
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ReviewLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(60)

    @property
    def outcomes(self) -> list[Outcome]:
        with self._lock:
            return list(self._outcomes)

    def wait_until(
        self, condition: Callable[[list[Outcome]], bool], what: str, timeout: float = 60.0
    ) -> None:
        """Until `condition(outcomes)` holds, or fail saying `what` did not happen."""
        deadline = time.monotonic() + timeout
        while not condition(self.outcomes):
            finished = not any(thread.is_alive() for thread in self._threads)
            if finished or time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout:.0f} s: {tally(self.outcomes)}")
            time.sleep(0.05)

    def wait_for_more(self, status: int | str, count: int, timeout: float = 60.0) -> None:
        """Until `count` more requests than now have had `status`."""
        target = tally(self.outcomes)[status] + count
        self.wait_until(
            lambda outcomes: tally(outcomes)[status] >= target, f"{count} more {status}", timeout
        )

    def wait_for_unanswered_tries(self, count: int, timeout: float = 60.0) -> None:
        """Until `count` more tries than now got no answer (retried ones included)."""
        with self._lock:
            target = self.unanswered_tries + count
        self.wait_until(
            lambda _: self.unanswered_tries >= target, f"{count} more tries unanswered", timeout
        )

    def _next_marker(self) -> str | None:
        with self._lock:
            if self._stopping.is_set() or self._sent >= self.limit:
                return None
            self._sent += 1
            return f"{self.run}-{self._sent:04d}"

    def _client(self) -> None:
        with httpx.Client(
            base_url=self.base_url, headers=MACHINE_HEADERS, timeout=self.timeout_s
        ) as http:
            while (marker := self._next_marker()) is not None:
                if self.retry_with_key:
                    outcome = self._post_until_answered(http, marker)
                else:
                    outcome = self._post(http, marker)
                with self._lock:
                    self._outcomes.append(outcome)
                # A client that got no answer waits longer before its next try.
                time.sleep(self.pause_s if outcome.status != NO_ANSWER else _RETRY_PAUSE_S)

    def _post_until_answered(self, http: httpx.Client, marker: str) -> Outcome:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + self.give_up_s
        tries = 1
        while (outcome := self._post(http, marker, key)).status in _TRY_AGAIN:
            if time.monotonic() > deadline:
                break
            time.sleep(_RETRY_PAUSE_S)
            tries += 1
        return dataclasses.replace(outcome, tries=tries)

    def _post(self, http: httpx.Client, marker: str, headers: dict | None = None) -> Outcome:
        body = {"movie_id": self.movie_id, "author": "부하", "content": f"{marker} 재미있게 봤다"}
        try:
            response = http.post("/reviews/", json=body, headers=headers)
        except httpx.TransportError:
            with self._lock:
                self.unanswered_tries += 1
            return Outcome(marker, NO_ANSWER)
        if response.status_code != 201:
            return Outcome(marker, response.status_code)
        review = response.json()
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return Outcome(marker, 201, review["id"], review["status"], replayed=replayed)


def create_movie(gateway_url: str, title: str) -> int:
    """A new movie's id, for a load to review."""
    response = httpx.post(f"{gateway_url}/movies/", json={"title": title}, headers=MACHINE_HEADERS)
    response.raise_for_status()
    return response.json()["id"]


def tally(outcomes: list[Outcome]) -> Counter[int | str]:
    """How many requests got each status."""
    return Counter(outcome.status for outcome in outcomes)


def stored_reviews(database_url: str, run: str) -> list[Review]:
    """The rows a load's requests wrote, read straight from the database."""
    engine = create_db_engine(Settings(database_url=database_url))
    try:
        with create_session_factory(engine)() as session:
            return list(session.scalars(select(Review).where(Review.content.startswith(run))))
    finally:
        engine.dispose()


def wait_until_scored(database_url: str, run: str, timeout: float = 60.0) -> list[Review]:
    """The load's rows once all are scored, or as they are after `timeout`; watched in the
    database, with no request to the gateway."""
    deadline = time.monotonic() + timeout
    while True:
        rows = stored_reviews(database_url, run)
        if time.monotonic() > deadline or all(row.status == ReviewStatus.SCORED for row in rows):
            return rows
        time.sleep(0.3)


def account(load: ReviewLoad, rows: list[Review]) -> dict[str, Any]:
    """Requests against rows: what was sent, accepted, stored, lost, stored twice, half-written."""
    outcomes = load.outcomes
    accepted = {outcome.marker: outcome.review_id for outcome in outcomes if outcome.status == 201}
    rows_by_marker = Counter(row.content.split(" ", 1)[0] for row in rows)
    stored_ids = {row.id for row in rows}
    return {
        "sent": len(outcomes),
        "accepted": len(accepted),
        "accepted_pending": sum(1 for outcome in outcomes if outcome.review_status == "pending"),
        "stored": len(rows),
        "lost": sum(1 for review_id in accepted.values() if review_id not in stored_ids),
        "stored_twice": sum(1 for count in rows_by_marker.values() if count > 1),
        "stored_unacknowledged": sum(1 for marker in rows_by_marker if marker not in accepted),
        "half_written": sum(1 for row in rows if not _whole(row)),
        "scored": sum(1 for row in rows if row.status == ReviewStatus.SCORED),
        "statuses": {str(status): count for status, count in tally(outcomes).items()},
        "retried": sum(1 for outcome in outcomes if outcome.tries > 1),
        "replayed": sum(1 for outcome in outcomes if outcome.replayed),
    }


def _whole(row: Review) -> bool:
    """A scored row has every sentiment column; a pending one has none."""
    present = [getattr(row, column) is not None for column in SENTIMENT_COLUMNS]
    return all(present) if row.status == ReviewStatus.SCORED else not any(present)
