"""Custom domains: host names an app is served on besides <app>.<base domain>.

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
    CREATE TABLE domains (
        hostname text PRIMARY KEY,
        app      text NOT NULL
    );
    """)
