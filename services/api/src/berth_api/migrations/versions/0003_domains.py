"""Custom domains: host names an app answers on besides <app>.<base domain>.

Revision ID: 0003
Revises: 0002
"""
from berth_common.db import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE domains (
        hostname   text PRIMARY KEY,  -- one app per host name, platform-wide
        app_id     uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX domains_app ON domains (app_id);
    """)
