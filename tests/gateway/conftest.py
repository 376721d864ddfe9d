"""Gateway test fixtures: a migrated database on SQLite or the throwaway PostgreSQL."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from gateway.database import create_db_engine, create_session_factory
from gateway.idempotency.models import IdempotencyKey
from gateway.migrate import upgrade_database
from gateway.movies.models import Movie
from gateway.settings import Settings


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def migrated_database(request, tmp_path_factory) -> Iterator[sessionmaker[Session]]:
    """A database of this module's own, migrated to head, on each backend the gateway supports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('gateway-db') / 'gateway.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"gw_{uuid.uuid4().hex[:12]}")
    engine = create_db_engine(Settings(database_url=url))
    upgrade_database(engine, wait_s=10)
    try:
        yield create_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def session_factory(migrated_database: sessionmaker[Session]) -> sessionmaker[Session]:
    """The module's database, emptied before each test (deleting movies cascades to reviews)."""
    with migrated_database() as session:
        session.execute(delete(Movie))
        session.execute(delete(IdempotencyKey))
        session.commit()
    return migrated_database
