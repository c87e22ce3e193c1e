"""Maintenance mode per app (Heroku's `maintenance:on`).

Revision ID: 0005
Revises: 0004
"""
from berth_common.db import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE apps ADD COLUMN maintenance boolean NOT NULL DEFAULT false;")
