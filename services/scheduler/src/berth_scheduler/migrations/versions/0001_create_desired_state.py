"""Desired state per app: the release to run and the formation.

What actually runs is not stored: it is read back from the runtime (container labels).

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
    CREATE TABLE apps (
        name           text PRIMARY KEY,
        target         jsonb,          -- the newest release: release_id, version, image, process_types, config
        deployed       jsonb,          -- the release that last rolled out completely
        failed_version int,            -- the newest release whose rollout failed (not retried)
        formation      jsonb NOT NULL DEFAULT '{}',
        announced      jsonb,          -- the endpoints last announced in endpoints.changed
        traceparent    text,           -- trace of the release.created that set the target
        release_phase_version int,     -- the newest release whose release phase succeeded
        restart_pending jsonb NOT NULL DEFAULT '[]',  -- process types to restart (rolling); "*" = all
        deleted        boolean NOT NULL DEFAULT false,
        updated_at     timestamptz NOT NULL DEFAULT now()
    );
    -- crash-loop bookkeeping per instance slot (web.1, web.2, ...): exponential restart backoff
    CREATE TABLE crashes (
        app            text NOT NULL,
        process        text NOT NULL,
        index          int NOT NULL,
        restarts       int NOT NULL DEFAULT 0,
        last_exit_code int,
        last_crash_at  timestamptz NOT NULL DEFAULT now(),
        next_start_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (app, process, index)
    );
    """)
