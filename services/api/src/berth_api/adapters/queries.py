"""Every SQL statement of the api, named, next to the functions that run them."""
from __future__ import annotations

import uuid

import asyncpg

INSERT_USER = "INSERT INTO users (id, email, is_admin) VALUES ($1, $2, $3)"
COUNT_USERS = "SELECT count(*) FROM users"
INSERT_TOKEN = "INSERT INTO tokens (id, user_id, token_hash, description) VALUES ($1, $2, $3, $4)"
USER_BY_TOKEN = """
UPDATE tokens SET last_used_at = now() WHERE token_hash = $1
RETURNING user_id, (SELECT email FROM users WHERE id = user_id) AS email,
          (SELECT is_admin FROM users WHERE id = user_id) AS is_admin
"""

APP_COLUMNS = "a.id, a.name, a.created_at, a.maintenance, u.email AS owner"


# Access: an admin may use every app; anyone else the apps they own or collaborate on.
def _may_use(user: str) -> str:
    return f"(a.owner_id = {user} OR EXISTS (SELECT 1 FROM collaborators c WHERE c.app_id = a.id AND c.user_id = {user}))"


MAY_USE_APP = f"SELECT {_may_use('$2')} FROM apps a WHERE a.name = $1"
SELECT_APPS_OF_USER = (f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN users u ON u.id = a.owner_id "
                       f"WHERE {_may_use('$1')} ORDER BY a.name")
APP_NAMES_OF_USER = f"SELECT a.name FROM apps a WHERE {_may_use('$1')}"
SELECT_APP_NAMES = "SELECT name FROM apps"

SELECT_USERS = """
SELECT u.id, u.email, u.is_admin, u.created_at,
       (SELECT count(*) FROM apps a WHERE a.owner_id = u.id) AS apps_owned
FROM users u ORDER BY u.email"""
USER_BY_EMAIL = "SELECT id, email, is_admin, created_at FROM users WHERE email = $1"
INSERT_USER_IF_NEW = "INSERT INTO users (id, email, is_admin) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING id"
DELETE_USER = "DELETE FROM users WHERE id = $1"

SELECT_COLLABORATORS = """
SELECT u.email, c.created_at FROM collaborators c JOIN users u ON u.id = c.user_id
WHERE c.app_id = $1 ORDER BY u.email"""
INSERT_COLLABORATOR = "INSERT INTO collaborators (app_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING created_at"
DELETE_COLLABORATOR = "DELETE FROM collaborators WHERE app_id = $1 AND user_id = $2"
SELECT_APP_OWNER = "SELECT owner_id FROM apps WHERE id = $1"

INSERT_APP = "INSERT INTO apps (id, name, owner_id) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id"
SELECT_APPS = f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN users u ON u.id = a.owner_id ORDER BY a.name"
SELECT_APP = f"SELECT {APP_COLUMNS} FROM apps a LEFT JOIN users u ON u.id = a.owner_id WHERE a.name = $1"
LOCK_APP = "SELECT id, name FROM apps WHERE name = $1 FOR UPDATE"
LOCK_APP_BY_ID = "SELECT id, name FROM apps WHERE id = $1 FOR UPDATE"
DELETE_APP = "DELETE FROM apps WHERE id = $1"
SET_MAINTENANCE = "UPDATE apps SET maintenance = $2 WHERE id = $1 AND maintenance IS DISTINCT FROM $2 RETURNING true"

CONFIG_OF_APP = "SELECT key, value_sealed FROM config_vars WHERE app_id = $1 ORDER BY key"
UPSERT_CONFIG_VAR = """INSERT INTO config_vars (app_id, key, value_sealed) VALUES ($1, $2, $3)
                       ON CONFLICT (app_id, key) DO UPDATE SET value_sealed = EXCLUDED.value_sealed"""
DELETE_CONFIG_VAR = "DELETE FROM config_vars WHERE app_id = $1 AND key = $2"
DELETE_ALL_CONFIG_VARS = "DELETE FROM config_vars WHERE app_id = $1"

DOMAINS_OF_APP = "SELECT hostname, created_at FROM domains WHERE app_id = $1 ORDER BY hostname"
DOMAIN_OWNER = "SELECT a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.hostname = $1"
INSERT_DOMAIN = "INSERT INTO domains (hostname, app_id) VALUES ($1, $2) RETURNING hostname, created_at"
DELETE_DOMAIN = "DELETE FROM domains WHERE hostname = $1 AND app_id = $2 RETURNING hostname"

FORMATION_OF_APP = "SELECT type, quantity, memory, cpus FROM formation WHERE app_id = $1 ORDER BY type"
UPSERT_FORMATION = """INSERT INTO formation (app_id, type, quantity, memory, cpus) VALUES ($1, $2, $3, $4, $5)
                      ON CONFLICT (app_id, type) DO UPDATE SET quantity = EXCLUDED.quantity,
                      memory = EXCLUDED.memory, cpus = EXCLUDED.cpus"""

BUILD_COLUMNS = """b.id, a.name AS app, b.status, b.source_version, b.stack, b.image, b.process_types,
                   b.reason, u.email AS created_by, b.created_at, b.updated_at"""
INSERT_BUILD = """INSERT INTO builds (id, app_id, status, source_object, source_version, created_by)
                  VALUES ($1, $2, 'pending', $3, $4, $5)"""
SELECT_BUILDS = f"""SELECT {BUILD_COLUMNS} FROM builds b JOIN apps a ON a.id = b.app_id
                    LEFT JOIN users u ON u.id = b.created_by WHERE a.name = $1 ORDER BY b.created_at DESC LIMIT $2"""
SELECT_BUILD = f"""SELECT {BUILD_COLUMNS} FROM builds b JOIN apps a ON a.id = b.app_id
                   LEFT JOIN users u ON u.id = b.created_by WHERE a.name = $1 AND b.id = $2"""
LOCK_BUILD = "SELECT id, app_id, status, source_version, created_by FROM builds WHERE id = $1 FOR UPDATE"
UPDATE_BUILD = """UPDATE builds SET status = $2, stack = COALESCE($3, stack), image = COALESCE($4, image),
                  process_types = COALESCE($5, process_types), reason = COALESCE($6, reason), updated_at = now()
                  WHERE id = $1"""

RELEASE_COLUMNS = """r.id, r.version, r.image, r.process_types, r.build_id, r.description, r.status, r.reason,
                     u.email AS created_by, r.created_at"""
NEXT_VERSION = "SELECT COALESCE(max(version), 0) + 1 FROM releases WHERE app_id = $1"
RELEASE_FOR_BUILD = "SELECT id FROM releases WHERE build_id = $1"
INSERT_RELEASE = """INSERT INTO releases (id, app_id, version, image, process_types, config_sealed, healthchecks,
                                         build_id, description, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"""
# The release new config or a rollback builds on: the newest that rolled out, else the newest.
CURRENT_RELEASE = """SELECT * FROM releases WHERE app_id = $1
                     ORDER BY (status = 'succeeded') DESC, version DESC LIMIT 1"""
RELEASE_BY_VERSION = "SELECT * FROM releases WHERE app_id = $1 AND version = $2"
SELECT_RELEASES = f"""SELECT {RELEASE_COLUMNS} FROM releases r JOIN apps a ON a.id = r.app_id
                      LEFT JOIN users u ON u.id = r.created_by WHERE a.name = $1 ORDER BY r.version DESC LIMIT $2"""
SELECT_RELEASE = f"""SELECT {RELEASE_COLUMNS} FROM releases r JOIN apps a ON a.id = r.app_id
                     LEFT JOIN users u ON u.id = r.created_by WHERE a.name = $1 AND r.version = $2"""
# A release's outcome is final: a late or repeated event never flips it.
SET_RELEASE_STATUS = "UPDATE releases SET status = $2, reason = $3 WHERE id = $1 AND status = 'pending'"


def new_id() -> uuid.UUID:
    return uuid.uuid4()


async def app_or_none(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_APP, name)
