"""create routes: apps (a route each), their endpoints, and the time of each app's newest
endpoint set (so an older EndpointsChanged redelivered late cannot overwrite a newer one)

Revision ID: 0001
Revises:
"""
from berth_common.db import MESSAGING_TABLES, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# endpoints has no foreign key to apps: the scheduler's and the api's streams are not
# ordered with respect to each other, so endpoints may arrive before the app; only apps
# with a row in `apps` are routed.
def upgrade() -> None:
    execute_script(MESSAGING_TABLES)
    execute_script(
        """
        CREATE TABLE apps (
            name       text PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE endpoints (
            app      text NOT NULL,
            instance text NOT NULL,
            host     text NOT NULL,
            port     int  NOT NULL CHECK (port > 0 AND port < 65536),
            PRIMARY KEY (app, instance)
        );

        CREATE TABLE endpoint_sets (
            app        text PRIMARY KEY,
            changed_at timestamptz NOT NULL
        );
        """
    )
