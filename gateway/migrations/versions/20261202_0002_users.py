"""Accounts: the `users` table, and the account that wrote each review (none for older ones).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("hashed_password", sa.String(length=200), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a foreign key only inline with its column (or by rebuilding the table).
        op.execute(
            "ALTER TABLE reviews ADD COLUMN user_id INTEGER "
            "CONSTRAINT fk_reviews_user_id_users REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("reviews", sa.Column("user_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_reviews_user_id_users"),
            "reviews",
            "users",
            ["user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reviews_user_id"), table_name="reviews")
    with op.batch_alter_table("reviews") as reviews:
        reviews.drop_constraint(op.f("fk_reviews_user_id_users"), type_="foreignkey")
        reviews.drop_column("user_id")
    op.drop_table("users")
