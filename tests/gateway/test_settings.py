"""Gateway settings and engine construction (no database is contacted)."""

import pytest
from pydantic import ValidationError

from gateway.database import create_db_engine
from gateway.settings import Settings


def test_port_comes_from_port_before_gateway_port(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    assert Settings().gateway_port == 8123
    monkeypatch.setenv("PORT", "8080")  # what Cloud Run sets
    assert Settings().gateway_port == 8080


def test_defaults_to_a_sqlite_file_under_state(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings().database_url == "sqlite:///state/moviegpt.db"


def test_a_lease_shorter_than_a_model_call_is_refused():
    with pytest.raises(ValidationError, match="SCORER_LEASE_S"):
        Settings(scorer_lease_s=5, scoring_timeout_s=10)


def test_cloud_sql_unix_socket_url_gives_a_sized_pre_pinged_pool():
    settings = Settings(
        database_url="postgresql+psycopg2://app:pw@/moviegpt?host=/cloudsql/proj:asia-northeast3:db",
        db_pool_size=7,
        db_max_overflow=3,
    )
    engine = create_db_engine(settings)
    try:
        assert engine.url.query["host"] == "/cloudsql/proj:asia-northeast3:db"
        assert engine.url.database == "moviegpt"
        assert engine.pool.size() == 7
        assert engine.pool._max_overflow == 3
        assert engine.pool._pre_ping is True
    finally:
        engine.dispose()


def test_sqlite_file_gets_its_directory_created(tmp_path):
    path = tmp_path / "nested" / "state" / "gateway.db"
    engine = create_db_engine(Settings(database_url=f"sqlite:///{path}"))
    try:
        with engine.connect() as connection:
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert path.exists()
        assert foreign_keys == 1
    finally:
        engine.dispose()
