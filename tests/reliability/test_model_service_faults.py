"""The model service crashes, or is flooded, while reviews are posted: no accepted review is lost.

A gateway takes the reviews either way (scored, or `pending` while the service is away) and its
background scorer scores every pending one once the service answers again, with no client action.
"""

import asyncio
import time

import httpx
import pytest

from stack.parts import GatewayProcess, ModelServiceProcess
from tests.reliability.ledger import Ledger
from tests.reliability.load import (
    NO_WRITE_LIMIT,
    ReviewLoad,
    account,
    create_movie,
    wait_until_scored,
)

pytestmark = pytest.mark.integration

# The gateway waits less for a score, so posts made while the service restarts answer sooner.
QUICK_MODEL_CALLS = {"SCORING_TIMEOUT_S": "3", "MODEL_SERVICE_CONNECT_TIMEOUT_S": "1"}
# A small queue, so a flood from one test process overfills it.
SMALL_QUEUE = {"MODEL_SERVICE_MAX_CONCURRENCY": "4", "MODEL_SERVICE_MAX_LATENCY_MS": "300"}
FLOOD_REQUESTS = 64
FLOOD_TEXTS = [
    f"{n}번째 관객: 배우들의 연기가 좋았고 이야기도 끝까지 탄탄했다. " * 4 for n in range(32)
]


def test_a_model_service_killed_mid_load_loses_nothing_and_scores_every_review_later(
    database_url, tiny_bentoml_home, tiny_model_tag, ledger: Ledger
) -> None:
    model_service = ModelServiceProcess(tiny_bentoml_home, tiny_model_tag)
    env = NO_WRITE_LIMIT | QUICK_MODEL_CALLS
    with model_service, GatewayProcess(database_url, model_service.url, env=env) as gateway:
        movie_id = create_movie(gateway.url, "괴물")
        with ReviewLoad(gateway.url, movie_id, pause_s=0.1, limit=500) as load:
            load.wait_for_more(201, 25)
            model_service.kill()
            with pytest.raises(httpx.TransportError):  # down, workers included
                httpx.get(f"{model_service.url}/livez", timeout=5)
            load.wait_for_more(201, 25)  # accepted while the service is down
            model_service.start()
            back_at = time.monotonic()
            load.wait_for_more(201, 25)
        rows = wait_until_scored(database_url, load.run)
        figures = account(load, rows)

    ledger.fault(
        "model service SIGKILLed mid-load, restarted",
        faults=1,
        survived=figures["lost"] == 0 and figures["scored"] == figures["stored"],
        all_scored_within_s=round(time.monotonic() - back_at, 1),
        **figures,
    )
    assert figures["statuses"] == {"201": figures["sent"]}
    assert figures["accepted_pending"] >= 25  # those posted while the service was down
    assert figures["stored"] == figures["accepted"]
    assert (figures["lost"], figures["stored_twice"], figures["half_written"]) == (0, 0, 0)
    assert figures["scored"] == figures["stored"]
    assert {row.sentiment_model for row in rows} == {tiny_model_tag}


async def flood(url: str) -> list[tuple[int, float]]:
    """FLOOD_REQUESTS classify calls at once: each one's status and seconds to its answer."""

    async def one(client: httpx.AsyncClient) -> tuple[int, float]:
        started = time.monotonic()
        response = await client.post("/classify", json={"texts": FLOOD_TEXTS})
        return response.status_code, time.monotonic() - started

    limits = httpx.Limits(max_connections=FLOOD_REQUESTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(one(client) for _ in range(FLOOD_REQUESTS)))


def test_an_overloaded_model_service_refuses_quickly_stays_up_and_serves_after(
    database_url, tiny_bentoml_home, tiny_model_tag, ledger: Ledger
) -> None:
    service = ModelServiceProcess(tiny_bentoml_home, tiny_model_tag, env=SMALL_QUEUE)
    with service, GatewayProcess(database_url, service.url, env=NO_WRITE_LIMIT) as gateway:
        sample = {"texts": FLOOD_TEXTS[:4]}
        before = httpx.post(f"{service.url}/classify", json=sample, timeout=30).json()
        movie_id = create_movie(gateway.url, "부산행")
        with ReviewLoad(gateway.url, movie_id, pause_s=0.05, limit=200) as load:
            load.wait_for_more(201, 5)
            answers = asyncio.run(flood(service.url))
            load.wait_for_more(201, 5)
        alive = service.process.poll() is None
        after = httpx.post(f"{service.url}/classify", json=sample, timeout=30)
        rows = wait_until_scored(database_url, load.run)
        figures = account(load, rows)

    statuses = [status for status, _ in answers]
    refused_s = [seconds for status, seconds in answers if status in (429, 503)]
    ledger.refusal("classify flood past the queue (4 in flight)", "model service", statuses,
                   expected="200, 429 or 503")  # fmt: skip
    ledger.fault(
        "model service flooded past its queue",
        faults=1,
        survived=alive and after.status_code == 200 and figures["lost"] == 0,
        slowest_refusal_s=round(max(refused_s, default=0), 2),
        **figures,
    )
    assert set(statuses) <= {200, 429, 503}
    assert refused_s, f"{FLOOD_REQUESTS} requests at once should overfill a queue of 4: {statuses}"
    # Refused at once, not after the 30 s request timeout.
    assert max(refused_s) < 10
    assert alive
    assert after.status_code == 200
    assert after.json() == before
    assert set(figures["statuses"]) == {"201"}
    assert (figures["lost"], figures["stored_twice"]) == (0, 0)
    assert figures["scored"] == figures["stored"] == figures["accepted"]
