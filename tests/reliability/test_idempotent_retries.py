"""Clients that retry with an Idempotency-Key through lost answers: every review stored exactly
once, none lost, though many answers never arrived.

The load's clients wait one second for an answer and then send the review again, with its key,
until answered. Two faults make answers go missing after the write committed: a stall (the
reviews' movie row locked for three seconds, as behind a long transaction: every insert waits,
every client gives up and retries, and the gateway goes on with the given-up requests once the
lock goes), then a gateway SIGKILL and restart.
"""

import time

import pytest
from sqlalchemy import text

from gateway.database import create_db_engine
from gateway.settings import Settings
from stack.parts import GatewayProcess
from tests.reliability.ledger import Ledger
from tests.reliability.load import (
    NO_WRITE_LIMIT,
    SHORT_LEASE,
    ReviewLoad,
    account,
    create_movie,
    wait_until_scored,
)

pytestmark = pytest.mark.integration

STALL_S = 3.0
CLIENT_TIMEOUT_S = 1.0


def stall_inserts(database_url: str, movie_id: int, seconds: float) -> None:
    """Hold the movie's row FOR UPDATE for `seconds`: each review insert waits on it (its foreign
    key check) meanwhile."""
    engine = create_db_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as connection:
            connection.execute(
                text("SELECT id FROM movies WHERE id = :id FOR UPDATE"), {"id": movie_id}
            )
            time.sleep(seconds)
            connection.rollback()
    finally:
        engine.dispose()


def test_retries_with_a_key_through_a_stall_and_a_crash_store_every_review_exactly_once(
    database_url, model_service_url, ledger: Ledger
) -> None:
    gateway = GatewayProcess(database_url, model_service_url, env=NO_WRITE_LIMIT | SHORT_LEASE)
    with gateway:
        movie_id = create_movie(gateway.url, "곡성")
        load = ReviewLoad(gateway.url, movie_id, pause_s=0.05, limit=400, retry_with_key=True,
                          timeout_s=CLIENT_TIMEOUT_S)  # fmt: skip
        with load:
            load.wait_for_more(201, 25)
            stall_inserts(database_url, movie_id, STALL_S)
            load.wait_for_more(201, 25)
            gateway.kill()
            load.wait_for_unanswered_tries(6)
            gateway.start()
            load.wait_for_more(201, 25)
        rows = wait_until_scored(database_url, load.run)
        figures = account(load, rows)

    ledger.fault(
        "clients retrying with a key: inserts stalled 3 s, then gateway SIGKILLed",
        faults=2,
        survived=(figures["lost"], figures["stored_twice"]) == (0, 0)
        and figures["stored"] == figures["sent"],
        **figures,
    )
    # Every review was answered in the end, with a 201, and stored once: none lost, none doubled.
    assert figures["statuses"] == {"201": figures["sent"]}
    assert (figures["lost"], figures["stored_twice"], figures["half_written"]) == (0, 0, 0)
    assert figures["stored"] == figures["accepted"] == figures["sent"]
    assert figures["stored_unacknowledged"] == 0
    assert figures["scored"] == figures["stored"]
    # The faults did cut answers off after the write: retries found their review stored.
    assert figures["retried"] >= 3
    assert figures["replayed"] >= 3
