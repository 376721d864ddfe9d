"""Fixtures shared by every part's tests: the throwaway PostgreSQL cluster."""

from collections.abc import Iterator

import pytest

from tests.support.postgres import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster this test run starts; stopped and removed at the end, pass or fail."""
    cluster = ThrowawayPostgres().init()
    cluster.start()
    try:
        cluster.wait_ready()
        cluster.create_database()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres: ThrowawayPostgres) -> str:
    return postgres.url
