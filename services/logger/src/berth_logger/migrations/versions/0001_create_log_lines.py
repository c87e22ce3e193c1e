"""Create log_lines (and the messaging tables every service has).

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
    # Each line carries one idempotency key: the JetStream stream sequence for lines from
    # the logs stream, or (container, docker nanoseconds, offset) for container output.
    # Unique constraints ignore NULLs, so the two keys live side by side.
    execute_script("""
    CREATE TABLE log_lines (
        id            bigserial PRIMARY KEY,
        app           text NOT NULL,
        time          timestamptz NOT NULL,
        source        text NOT NULL,
        process       text,
        instance      text,
        stream        text,
        line          text NOT NULL,
        stream_seq    bigint UNIQUE,
        container     text,
        docker_ns     bigint,
        docker_offset int,
        UNIQUE (container, docker_ns, docker_offset)
    );
    CREATE INDEX log_lines_app_id ON log_lines (app, id);
    CREATE INDEX log_lines_time ON log_lines (time);
    """)
