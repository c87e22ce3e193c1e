"""Collaborators: users other than the owner who may use an app (Heroku's `access`).

Revision ID: 0004
Revises: 0003
"""
from berth_common.db import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE collaborators (
        app_id     uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (app_id, user_id)
    );
    CREATE INDEX collaborators_user ON collaborators (user_id);
    """)
