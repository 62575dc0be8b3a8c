"""A deliberately broken revision, shipped only in the broken-migration image.

Its upgrade indexes a column that does not exist, so PostgreSQL rejects it and the
whole `alembic upgrade head` run rolls back (see env.py).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_missing_column", "items", ["column_that_does_not_exist"])


def downgrade() -> None:
    op.drop_index("ix_items_missing_column", table_name="items")
