"""Reliability fixtures: the run's ledger, a database per test, a gateway without a write limit."""

import uuid
from collections.abc import Iterator

import pytest

from stack.parts import GatewayProcess
from stack.postgres import ThrowawayPostgres
from tests.reliability.ledger import Ledger
from tests.reliability.load import NO_WRITE_LIMIT


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    """Figures the tests record; written to artifacts/reliability.json when the run ends."""
    run = Ledger()
    yield run
    run.write()


@pytest.fixture
def database_url(postgres: ThrowawayPostgres) -> str:
    """A fresh PostgreSQL database of this test's own."""
    return postgres.create_database(f"reliability_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="session")
def open_gateway(postgres: ThrowawayPostgres, model_service_url: str) -> Iterator[GatewayProcess]:
    """A real gateway over the shared model service, with no limit on writes."""
    database_url = postgres.create_database("reliability")
    with GatewayProcess(database_url, model_service_url, env=NO_WRITE_LIMIT) as gateway:
        yield gateway
