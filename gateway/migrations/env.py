"""Alembic environment: the gateway's metadata, on the connection handed over or its own."""

from alembic import context
from sqlalchemy import Connection

import gateway.idempotency.models
import gateway.movies.models
import gateway.reviews.models
import gateway.rollout.models
import gateway.users.models  # noqa: F401  (these imports register the tables on the metadata)
from gateway.database import Base, create_db_engine
from gateway.settings import settings

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (it has no ALTER COLUMN).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=settings.database_url, target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
elif (handed_over := context.config.attributes.get("connection")) is not None:
    run_migrations(handed_over)
else:
    with create_db_engine(settings).begin() as own_connection:
        run_migrations(own_connection)
