"""The stars migration (0005) over a database with rows in it, up and down, on both backends."""

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from gateway.database import Base, create_db_engine
from gateway.migrate import ALEMBIC_INI
from gateway.settings import Settings

BEFORE_STARS = "0004"
STARS = "0005"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def engine(request, tmp_path) -> Iterator[Engine]:
    """An empty database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"mig_{uuid.uuid4().hex[:12]}")
    engine = create_db_engine(Settings(database_url=url))
    yield engine
    engine.dispose()


def migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        config = Config(str(ALEMBIC_INI))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def seed(engine: Engine) -> dict[str, int]:
    """A movie, a scored and a pending review, and a candidate prediction, as 0004 stores them."""
    with engine.begin() as connection:
        movie = connection.scalar(text("INSERT INTO movies (title) VALUES ('괴물') RETURNING id"))
        scored = connection.scalar(
            text(
                "INSERT INTO reviews (movie_id, author, content, status, sentiment_label, "
                "sentiment_score, positivity, probabilities, sentiment_model) VALUES (:movie, 'a', "
                "'예전에 채점된 리뷰', 'scored', 'positive', 0.6, 0.75, :probabilities, 'm:old') "
                "RETURNING id"
            ),
            {"movie": movie, "probabilities": '{"negative": 0.1, "neutral": 0.3, "positive": 0.6}'},
        )
        pending = connection.scalar(
            text(
                "INSERT INTO reviews (movie_id, author, content, status) "
                "VALUES (:movie, 'b', '아직 채점 안 된 리뷰', 'pending') RETURNING id"
            ),
            {"movie": movie},
        )
        connection.execute(
            text(
                "INSERT INTO candidate_predictions (review_id, model_tag, label, probabilities, "
                "positivity) VALUES (:review, 'm:candidate', 'negative', '{}', 0.2)"
            ),
            {"review": scored},
        )
    return {"movie": movie, "scored": scored, "pending": pending}


def columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def reviews(engine: Engine) -> dict[int, tuple]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, sentiment_label, content FROM reviews"))
        return {row.id: tuple(row) for row in rows}


def _plain(reflected: dict) -> str:
    """A reflected index or constraint as text; a partial index's WHERE clause as its SQL."""
    options = {key: str(value) for key, value in reflected.get("dialect_options", {}).items()}
    return str({**reflected, "dialect_options": options})


def schema(engine: Engine) -> dict[str, object]:
    """What the migration must leave as it found it: indexes and constraints of both tables."""
    found = inspect(engine)
    return {
        f"{table}.{kind}": sorted(_plain(item) for item in getattr(found, f"get_{kind}")(table))
        for table in ("reviews", "candidate_predictions")
        for kind in ("indexes", "check_constraints", "foreign_keys", "unique_constraints")
    }


def test_existing_rows_get_null_stars_and_the_downgrade_gives_the_schema_back(engine):
    migrate(engine, BEFORE_STARS)
    ids = seed(engine)
    before, before_schema = reviews(engine), schema(engine)

    migrate(engine, STARS)

    assert "stars" in columns(engine, "reviews") and "stars" in columns(
        engine, "candidate_predictions"
    )
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, stars FROM reviews ORDER BY id")).all() == [
            (ids["scored"], None),
            (ids["pending"], None),
        ]
        assert connection.scalars(text("SELECT stars FROM candidate_predictions")).all() == [None]
    assert reviews(engine) == before

    migrate(engine, BEFORE_STARS, down=True)

    assert "stars" not in columns(engine, "reviews")
    assert "stars" not in columns(engine, "candidate_predictions")
    assert reviews(engine) == before
    assert schema(engine) == before_schema

    migrate(engine, STARS)  # and up again, over the same rows
    assert "stars" in columns(engine, "reviews")
    assert reviews(engine) == before


@pytest.mark.parametrize("stars", [0.99, 10.5, -3])
def test_the_database_refuses_stars_outside_one_to_ten(engine, stars):
    migrate(engine, "head")
    ids = seed(engine)

    with engine.begin() as connection:
        for fine in (1, 8.37, 10):
            connection.execute(
                text("UPDATE reviews SET stars = :stars WHERE id = :id"),
                {"stars": fine, "id": ids["scored"]},
            )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("UPDATE reviews SET stars = :stars WHERE id = :id"),
            {"stars": stars, "id": ids["scored"]},
        )
    with engine.connect() as connection:
        assert (
            connection.scalar(text(f"SELECT stars FROM reviews WHERE id = {ids['scored']}")) == 10
        )


def test_the_migrated_columns_are_the_ones_the_models_describe(engine):
    migrate(engine, "head")

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert [d for d in differences if "stars" in repr(d)] == []
