"""Bring the database schema to the newest Alembic revision; the gateway runs this at start."""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# Any constant shared by all gateway instances: the advisory lock that lets one of them migrate.
_MIGRATION_LOCK_KEY = 5_117_001

logger = logging.getLogger(__name__)


def upgrade_database(engine: Engine, *, wait_s: float) -> None:
    """Wait up to `wait_s` for the database to answer, then apply every pending migration."""
    _wait_for_database(engine, wait_s)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Instances starting together would otherwise race to create the same tables.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config = Config(str(ALEMBIC_INI))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _wait_for_database(engine: Engine, wait_s: float) -> None:
    for attempt in Retrying(
        retry=retry_if_exception_type(OperationalError),
        stop=stop_after_delay(wait_s),
        wait=wait_fixed(1.0),
        before_sleep=_log_wait,
        reraise=True,
    ):
        with attempt, engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def _log_wait(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    logger.warning("database not answering yet, retrying: %s", getattr(error, "orig", error))
