"""The gateway crashes mid-load, or its database restarts under it: no review is half-written or
silently lost, and the gateway recovers by itself.

Clients see a review accepted (201), or a clear error: no answer while the gateway is down, 503
while the database is. A review whose answer was lost in the crash may still be stored; it is
then whole and scored like the others.
"""

import time

import httpx
import pytest

from stack.parts import MACHINE_HEADERS, GatewayProcess
from tests.reliability.ledger import NO_ANSWER, Ledger
from tests.reliability.load import (
    NO_WRITE_LIMIT,
    SHORT_LEASE,
    ReviewLoad,
    account,
    create_movie,
    wait_until_scored,
)

pytestmark = pytest.mark.integration

# A password the database (trust authentication) ignores, to show it never reaches the log.
DB_PASSWORD = "pg-pass-3c9e71d05b"


def test_a_gateway_killed_mid_load_leaves_whole_rows_and_loses_nothing_it_accepted(
    database_url, model_service_url, ledger: Ledger
) -> None:
    gateway = GatewayProcess(database_url, model_service_url, env=NO_WRITE_LIMIT | SHORT_LEASE)
    with gateway:
        movie_id = create_movie(gateway.url, "곡성")
        with ReviewLoad(gateway.url, movie_id, pause_s=0.05, limit=400) as load:
            load.wait_for_more(201, 25)
            gateway.kill()
            load.wait_for_more(NO_ANSWER, 6)
            gateway.start()
            back_at = time.monotonic()
            load.wait_for_more(201, 25)
        rows = wait_until_scored(database_url, load.run)
        figures = account(load, rows)

    ledger.fault(
        "gateway SIGKILLed mid-load, restarted",
        faults=1,
        survived=figures["lost"] == 0 and figures["half_written"] == 0,
        all_scored_within_s=round(time.monotonic() - back_at, 1),
        **figures,
    )
    assert set(figures["statuses"]) == {"201", NO_ANSWER}
    assert (figures["lost"], figures["stored_twice"], figures["half_written"]) == (0, 0, 0)
    # Every row is a request's: accepted, or cut off by the crash after its commit.
    assert figures["stored"] == figures["accepted"] + figures["stored_unacknowledged"]
    assert figures["stored_unacknowledged"] <= figures["statuses"][NO_ANSWER]
    assert figures["scored"] == figures["stored"]


def test_posts_get_503_while_the_database_restarts_and_the_gateway_recovers_by_itself(
    postgres, database_url, model_service_url, ledger: Ledger
) -> None:
    with_password = database_url.replace(f"{postgres.user}@", f"{postgres.user}:{DB_PASSWORD}@")
    # A post cut off by the outage after its commit leaves its claim behind: let it lapse soon.
    gateway = GatewayProcess(with_password, model_service_url, env=NO_WRITE_LIMIT | SHORT_LEASE)
    with gateway, httpx.Client(base_url=gateway.url, headers=MACHINE_HEADERS, timeout=30) as api:
        movie_id = create_movie(gateway.url, "부산행")
        with ReviewLoad(gateway.url, movie_id, pause_s=0.05, limit=400) as load:
            load.wait_for_more(201, 25)
            try:
                postgres.stop()
                load.wait_for_more(503, 10)
                during = {"read": api.get(f"/movies/{movie_id}"), "health": api.get("/health")}
            finally:
                postgres.start()
            first_read = api.get(f"/reviews/movie/{movie_id}/rating")
            load.wait_for_more(201, 25)
        rows = wait_until_scored(database_url, load.run)
        figures = account(load, rows)
        log = gateway.log_tail(lines=100_000)

    refused = [outcome for outcome in load.outcomes if outcome.status == 503]
    ledger.fault(
        "PostgreSQL restarted under load",
        faults=1,
        survived=figures["lost"] == 0 and "500" not in figures["statuses"],
        **figures,
    )
    assert set(figures["statuses"]) == {"201", "503"}
    assert (figures["lost"], figures["stored_twice"], figures["half_written"]) == (0, 0, 0)
    assert figures["stored"] == figures["accepted"] + figures["stored_unacknowledged"]
    assert figures["scored"] == figures["stored"]
    assert refused
    assert during["read"].status_code == 503
    assert during["read"].headers["Retry-After"]
    assert "database is unavailable" in during["read"].json()["detail"]
    assert (during["health"].status_code, during["health"].json()["database"]) == (
        503,
        "unavailable",
    )
    assert first_read.status_code == 200  # pre-ping replaced the dead pooled connections
    assert "database unavailable" in log  # the outage was logged ...
    assert DB_PASSWORD not in log  # ... and the connection's password was not
