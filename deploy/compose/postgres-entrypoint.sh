#!/bin/sh
# Entrypoint of berth/postgres: create the cluster on first start, then on every start
# (idempotently) the database, the services' roles with the passwords from the environment
# and their schemas, then run postgres in the foreground. Superuser access is local only
# (peer over the Unix socket); over TCP only the service roles can log in, with SCRAM.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
for s in API BUILDER SCHEDULER ROUTER LOGGER; do
  eval "v=\${BERTH_DB_PASSWORD_$s:-}"
  [ -n "$v" ] || { echo "berth-postgres: BERTH_DB_PASSWORD_$s is required" >&2; exit 1; }
done

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "berth-postgres: creating the cluster in $PGDATA" >&2
  initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat > "$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER                                                        ADDRESS    METHOD
local   all       postgres                                                               peer
host    berth     berth_api,berth_builder,berth_scheduler,berth_router,berth_logger 0.0.0.0/0  scram-sha-256
host    berth     berth_api,berth_builder,berth_scheduler,berth_router,berth_logger ::/0       scram-sha-256
HBA
  cat >> "$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
password_encryption = 'scram-sha-256'
max_connections = 200
CONF
fi

# Roles and schemas, with no TCP listener until they are in place.
pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
psql -X -q -v ON_ERROR_STOP=1 -d postgres \
  -v pw_api="$BERTH_DB_PASSWORD_API" -v pw_builder="$BERTH_DB_PASSWORD_BUILDER" \
  -v pw_scheduler="$BERTH_DB_PASSWORD_SCHEDULER" -v pw_router="$BERTH_DB_PASSWORD_ROUTER" \
  -v pw_logger="$BERTH_DB_PASSWORD_LOGGER" -f /etc/berth/postgres-init.sql
pg_ctl -D "$PGDATA" -w -s -m fast stop

exec postgres -D "$PGDATA"
