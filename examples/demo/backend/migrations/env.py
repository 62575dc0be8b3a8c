"""Alembic environment: the database URL comes from $DATABASE_URL only."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

if context.config.config_file_name:
    fileConfig(context.config.config_file_name)

url = os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("error: DATABASE_URL is not set; alembic needs it to reach the database")

if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # One transaction for the whole run: PostgreSQL's DDL is transactional, so a
        # failing revision leaves the database at the revision it started from.
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
