"""Create the builds table and the messaging tables (outbox, inbox, dead letters).

Revision ID: 0001
Revises:
"""
from berth_common.db import MESSAGING_TABLES, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BUILDS = """
CREATE TABLE builds (
    id             text PRIMARY KEY,
    app            text NOT NULL,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'building', 'succeeded', 'failed')),
    source_object  text NOT NULL,
    source_version text,
    stack          text,
    image          text,
    process_types  jsonb,
    reason         text,
    traceparent    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX builds_queue ON builds (created_at, id) WHERE status = 'queued';
CREATE INDEX builds_by_app ON builds (app, created_at DESC);
"""


def upgrade() -> None:
    execute_script(MESSAGING_TABLES + BUILDS)
