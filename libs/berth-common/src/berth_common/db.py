"""Postgres helpers: the pool, migrations (alembic, version table in the service's schema),
and the tables every service has in its own schema (outbox, inbox, dead letters)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, schema: str, **kw) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url, init=_init_connection, min_size=1, max_size=kw.pop("max_size", 10),
        server_settings={"search_path": schema, "application_name": f"berth-{schema}"}, **kw,
    )


def sqlalchemy_url(database_url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix):]
    return database_url


def alembic_config(database_url: str, schema: str, migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


async def migrate(database_url: str, schema: str, migrations_dir: Path) -> None:
    """Bring the service's schema to the newest migration (alembic runs its own loop: a thread)."""
    cfg = alembic_config(database_url, schema, migrations_dir)
    await asyncio.to_thread(command.upgrade, cfg, "head")


def run_migrations_env() -> None:
    """The body of every service's migrations/env.py: online migrations over asyncpg, with the
    schema created first and alembic's version table inside it."""
    from alembic import context
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import async_engine_from_config

    cfg = context.config
    schema = cfg.attributes["schema"]

    def do_run(connection):
        # Create the schema only when missing: Postgres checks CREATE on the database even for
        # IF NOT EXISTS, and a role that owns just its schema (the compose stack) lacks it.
        exists = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
        if not exists:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        context.configure(connection=connection, version_table_schema=schema, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()

    async def run():
        engine = async_engine_from_config(
            cfg.get_section(cfg.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


def execute_script(sql: str) -> None:
    """Run several SQL statements from a migration. SQLAlchemy's asyncpg dialect prepares each
    statement (one command only); asyncpg's own execute() without arguments takes a script."""
    from alembic import op
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    await_only(driver.execute(sql))


# Every service's first migration creates these in its own schema.
MESSAGING_TABLES = """
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    subject      text NOT NULL,
    body         jsonb NOT NULL,
    traceparent  text,
    tx           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    error       text NOT NULL,
    deliveries  int NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
"""
