"""Candidate predictions: what a model in shadow said of each review, apart from the live score.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidate_predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("model_tag", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("positivity", sa.Double(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_candidate_predictions_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidate_predictions")),
        sa.UniqueConstraint(
            "model_tag", "review_id", name=op.f("uq_candidate_predictions_model_tag")
        ),
    )
    op.create_index(
        op.f("ix_candidate_predictions_review_id"), "candidate_predictions", ["review_id"]
    )


def downgrade() -> None:
    op.drop_table("candidate_predictions")
