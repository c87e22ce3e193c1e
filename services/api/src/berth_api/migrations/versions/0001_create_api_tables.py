"""Users, tokens, apps, config vars, releases and the builds read model.

Revision ID: 0001
Revises:
"""
from berth_common.db import MESSAGING_TABLES, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(MESSAGING_TABLES)
    execute_script("""
    CREATE TABLE users (
        id         uuid PRIMARY KEY,
        email      text NOT NULL UNIQUE,
        is_admin   boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE tokens (
        id           uuid PRIMARY KEY,
        user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash   text NOT NULL UNIQUE,
        description  text NOT NULL DEFAULT '',
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz
    );
    CREATE TABLE apps (
        id         uuid PRIMARY KEY,
        name       text NOT NULL UNIQUE,
        owner_id   uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    -- values are sealed (encrypted with a key that lives outside the database)
    CREATE TABLE config_vars (
        app_id       uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        key          text NOT NULL,
        value_sealed text NOT NULL,
        PRIMARY KEY (app_id, key)
    );
    CREATE TABLE formation (
        app_id   uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        type     text NOT NULL,
        quantity int NOT NULL CHECK (quantity >= 0),
        memory   text,
        cpus     numeric,
        PRIMARY KEY (app_id, type)
    );
    CREATE TABLE builds (
        id             uuid PRIMARY KEY,
        app_id         uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        status         text NOT NULL CHECK (status IN ('pending', 'building', 'succeeded', 'failed')),
        source_object  text NOT NULL,
        source_version text,
        stack          text,
        image          text,
        process_types  jsonb,
        reason         text,
        created_by     uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX builds_app ON builds (app_id, created_at);
    CREATE TABLE releases (
        id            uuid PRIMARY KEY,
        app_id        uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        version       int NOT NULL,
        image         text NOT NULL,
        process_types jsonb NOT NULL,
        config_sealed text NOT NULL,
        healthchecks  jsonb NOT NULL DEFAULT '{}',
        build_id      uuid REFERENCES builds(id) ON DELETE SET NULL,
        description   text NOT NULL,
        status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
        reason        text,
        created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        -- the database, not the code path, prevents two v7s
        UNIQUE (app_id, version)
    );
    """)
