"""Keep the health checks a build read from app.json.

Revision ID: 0002
Revises: 0001
"""
from berth_common.db import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ADD_HEALTHCHECKS = """
ALTER TABLE builds ADD COLUMN healthchecks jsonb NOT NULL DEFAULT '{}'::jsonb;
"""


def upgrade() -> None:
    execute_script(ADD_HEALTHCHECKS)
