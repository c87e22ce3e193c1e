"""Maintenance mode: the app's hosts answer 503 with a maintenance page.

Revision ID: 0003
Revises: 0002
"""
from berth_common.db import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE apps ADD COLUMN maintenance boolean NOT NULL DEFAULT false;")
