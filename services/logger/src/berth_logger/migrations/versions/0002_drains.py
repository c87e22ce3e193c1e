"""Log drains: where an app's lines are forwarded, and how far each has got.

Revision ID: 0002
Revises: 0001
"""
from berth_common.db import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE drains (
        id            uuid PRIMARY KEY,
        app           text NOT NULL,
        url           text NOT NULL,
        token         text NOT NULL UNIQUE,   -- d.<uuid>: the HOSTNAME of every message it gets
        sent_up_to    bigint NOT NULL,        -- the id of the last log line it was sent
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_sent_at  timestamptz,
        last_error    text,
        last_error_at timestamptz,
        UNIQUE (app, url)
    );
    """)
