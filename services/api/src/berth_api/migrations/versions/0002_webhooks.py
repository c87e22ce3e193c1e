"""Webhook subscriptions, their deliveries and every attempt of each delivery.

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
    CREATE TABLE webhooks (
        id               uuid PRIMARY KEY,
        app_id           uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        url              text NOT NULL,
        include          text[] NOT NULL,
        -- secrets are sealed (berth_common.secrets); the previous one still signs until
        -- previous_expires_at after a rotation
        secret_sealed    text NOT NULL,
        previous_sealed  text,
        previous_expires_at timestamptz,
        created_by       uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhooks_app ON webhooks (app_id);

    -- One row per (subscription, event): its id is the `webhook-id` header, the same on
    -- every try, so a receiver can drop duplicates. The delivery worker is driven by this
    -- table alone (status + next_attempt_at): a restart loses nothing.
    CREATE TABLE webhook_deliveries (
        id              uuid PRIMARY KEY,
        webhook_id      uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id        uuid NOT NULL,
        event_type      text NOT NULL,
        body            text NOT NULL,
        status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        give_up_at      timestamptz NOT NULL,
        last_status_code int,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        delivered_at    timestamptz,
        UNIQUE (webhook_id, event_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);

    CREATE TABLE webhook_attempts (
        id           bigserial PRIMARY KEY,
        delivery_id  uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
        attempted_at timestamptz NOT NULL DEFAULT now(),
        status_code  int,
        duration_ms  int NOT NULL,
        error        text
    );
    CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhooks;")
