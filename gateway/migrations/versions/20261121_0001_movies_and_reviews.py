"""Movies and reviews, with the scorer's claim columns and the indexes the API reads by.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_ONLY = "status = 'pending'"


def _timestamp(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def upgrade() -> None:
    op.create_table(
        "movies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("director", sa.String(length=100), nullable=True),
        sa.Column("genre", sa.String(length=100), nullable=True),
        sa.Column("poster_url", sa.String(length=500), nullable=True),
        _timestamp("created_at", server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movies")),
    )
    op.create_index(op.f("ix_movies_created_at"), "movies", ["created_at"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sentiment_label", sa.String(length=16), nullable=True),
        sa.Column("sentiment_score", sa.Double(), nullable=True),
        sa.Column("positivity", sa.Double(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("sentiment_model", sa.String(length=200), nullable=True),
        _timestamp("created_at", server_default=sa.func.now(), nullable=False),
        _timestamp("scored_at", nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        _timestamp("claimed_until", nullable=True),
        sa.CheckConstraint(
            "sentiment_label IN ('negative', 'neutral', 'positive')",
            name=op.f("ck_reviews_sentiment_label"),
        ),
        sa.CheckConstraint("status IN ('pending', 'scored')", name=op.f("ck_reviews_status")),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_reviews_movie_id_movies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_created_at"), "reviews", ["created_at"])
    op.create_index("ix_reviews_movie_id_created_at", "reviews", ["movie_id", "created_at"])
    op.create_index(
        "ix_reviews_pending",
        "reviews",
        ["id"],
        postgresql_where=sa.text(PENDING_ONLY),
        sqlite_where=sa.text(PENDING_ONLY),
    )


def downgrade() -> None:
    op.drop_table("reviews")
    op.drop_table("movies")
