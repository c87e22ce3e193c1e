"""Every SQL statement about webhooks, named."""

WEBHOOK_COLUMNS = "w.id, a.name AS app, w.url, w.include, w.created_at, w.updated_at, w.previous_expires_at"
INSERT_WEBHOOK = """INSERT INTO webhooks (id, app_id, url, include, secret_sealed, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6)"""
SELECT_WEBHOOKS = f"""SELECT {WEBHOOK_COLUMNS} FROM webhooks w JOIN apps a ON a.id = w.app_id
                      WHERE a.name = $1 ORDER BY w.created_at"""
SELECT_WEBHOOK = f"""SELECT {WEBHOOK_COLUMNS} FROM webhooks w JOIN apps a ON a.id = w.app_id
                     WHERE a.name = $1 AND w.id = $2"""
DELETE_WEBHOOK = """DELETE FROM webhooks w USING apps a WHERE a.id = w.app_id AND a.name = $1 AND w.id = $2
                    RETURNING w.id"""
ROTATE_SECRET = """UPDATE webhooks w SET previous_sealed = w.secret_sealed, previous_expires_at = $3,
                   secret_sealed = $4, updated_at = now()
                   FROM apps a WHERE a.id = w.app_id AND a.name = $1 AND w.id = $2 RETURNING w.id"""

# The subscriptions of an app that include an event (created before the event happened).
MATCHING_WEBHOOKS = """SELECT w.id FROM webhooks w JOIN apps a ON a.id = w.app_id
                       WHERE a.name = $1 AND $2 = ANY(w.include) AND w.created_at <= $3"""
INSERT_DELIVERY = """INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body, give_up_at)
                     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
                     ON CONFLICT (webhook_id, event_id) DO NOTHING"""
NOTIFY_DELIVERIES = "SELECT pg_notify('berth_webhooks', '')"

DELIVERY_COLUMNS = """d.id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
                      d.give_up_at, d.last_status_code, d.last_error, d.created_at, d.delivered_at"""
SELECT_DELIVERIES = f"""SELECT {DELIVERY_COLUMNS}, w.url FROM webhook_deliveries d
                        JOIN webhooks w ON w.id = d.webhook_id JOIN apps a ON a.id = w.app_id
                        WHERE a.name = $1 AND ($2::uuid IS NULL OR d.webhook_id = $2)
                          AND ($3::text IS NULL OR d.status = $3)
                        ORDER BY d.created_at DESC, d.id LIMIT $4"""
SELECT_DELIVERY = f"""SELECT {DELIVERY_COLUMNS}, w.url FROM webhook_deliveries d
                      JOIN webhooks w ON w.id = d.webhook_id JOIN apps a ON a.id = w.app_id
                      WHERE a.name = $1 AND d.id = $2"""
ATTEMPTS_OF = """SELECT delivery_id, attempted_at, status_code, duration_ms, error FROM webhook_attempts
                 WHERE delivery_id = ANY($1::uuid[]) ORDER BY id"""
RETRY_DELIVERY = """UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(),
                    give_up_at = GREATEST(d.give_up_at, now() + make_interval(secs => $3))
                    FROM webhooks w, apps a
                    WHERE w.id = d.webhook_id AND a.id = w.app_id AND a.name = $1 AND d.id = $2
                    RETURNING d.id"""

# --- the delivery worker ------------------------------------------------------------------
# Subscriptions with something due; each gets its own queue (one worker task at a time).
DUE_WEBHOOKS = """SELECT DISTINCT webhook_id FROM webhook_deliveries
                  WHERE status = 'pending' AND next_attempt_at <= now()"""
# Claim the oldest due delivery of a subscription by moving its next attempt past the
# lease: if this process dies mid-send, the delivery is due again once the lease ends
# (at least once; the stable webhook-id lets the receiver drop the duplicate).
CLAIM_DELIVERY = """UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $2)
                    WHERE id = (SELECT id FROM webhook_deliveries
                                WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at <= now()
                                ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING id, event_id, body, attempts, give_up_at"""
WEBHOOK_FOR_SENDING = """SELECT id, url, secret_sealed, previous_sealed, previous_expires_at > now() AS previous_valid
                         FROM webhooks WHERE id = $1"""
INSERT_ATTEMPT = """INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, error)
                    VALUES ($1, $2, $3, $4)"""
MARK_DELIVERED = """UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
                    last_status_code = $2, last_error = NULL WHERE id = $1"""
# A failed try: again after the backoff (the last try at the end of the retry window), or
# given up once the window has passed.
MARK_FAILED = """UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = $2, last_error = $3,
                 next_attempt_at = LEAST(now() + make_interval(secs => $4), give_up_at),
                 status = CASE WHEN now() >= give_up_at THEN 'failed' ELSE 'pending' END
                 WHERE id = $1"""
