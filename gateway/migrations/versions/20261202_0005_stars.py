"""Stars: the star rating (1-10) the model expects, on each review and each candidate prediction.

Nullable, and NULL for every existing row: a score is never made up for a review the model did not
rate. Reviews hold it to 1-10 with a CHECK, as the model client does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STARS_IN_RANGE = "stars BETWEEN 1 AND 10"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a CHECK only inline with its column (or by rebuilding the table).
        op.execute(
            "ALTER TABLE reviews ADD COLUMN stars DOUBLE "
            f"CONSTRAINT ck_reviews_stars CHECK ({STARS_IN_RANGE})"
        )
    else:
        op.add_column("reviews", sa.Column("stars", sa.Double(), nullable=True))
        op.create_check_constraint(op.f("ck_reviews_stars"), "reviews", STARS_IN_RANGE)
    op.add_column("candidate_predictions", sa.Column("stars", sa.Double(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The native DROP COLUMN (SQLite 3.35+) takes the column's own CHECK with it; batch mode's
        # table rebuild would carry the CHECK over and fail on the column it no longer has.
        op.execute("ALTER TABLE reviews DROP COLUMN stars")
        op.execute("ALTER TABLE candidate_predictions DROP COLUMN stars")
    else:
        op.drop_constraint(op.f("ck_reviews_stars"), "reviews", type_="check")
        op.drop_column("reviews", "stars")
        op.drop_column("candidate_predictions", "stars")
