#!/bin/sh
# PgBouncer's configuration from the environment: `gridwatch` (the primary) and
# `gridwatch_read` (the streaming standby), both as the app role, pooled per transaction.
# The app's startup `options` (timezone, jit, plan_cache_mode: app/db.py) are ignored here;
# the role carries the same settings (deploy/migrate.sh), so every server connection has them.
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
umask 077
printf '"gridwatch_app" "%s"\n' "$GRIDWATCH_APP_PASSWORD" > "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
gridwatch = host=${PRIMARY_HOST:-db} port=5432 dbname=gridwatch
gridwatch_read = host=${REPLICA_HOST:-replica} port=5432 dbname=gridwatch

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = transaction
max_prepared_statements = 200
default_pool_size = ${PGBOUNCER_POOL_SIZE:-40}
max_client_conn = ${PGBOUNCER_MAX_CLIENTS:-2000}
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
INI
exec pgbouncer "$conf/pgbouncer.ini"
