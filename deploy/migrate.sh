#!/bin/sh
# The one-shot `migrate` service of docker-compose.prod.yml, as the database's owner:
# migrations, then the login of the non-owner role the app containers connect as
# (gridwatch_app: created and granted row rights only by `gridwatch migrate`,
# app/sql/app_role.sql), and pg_monitor so /metrics can read the standbys' lag. The session
# settings the app otherwise sends at connection start (app/db.py) are the role's own too:
# through PgBouncer in transaction mode a client's startup options do not reach the server.
set -eu
gridwatch migrate
psql "$GRIDWATCH_DATABASE_URL" -v ON_ERROR_STOP=1 -v pw="$GRIDWATCH_APP_PASSWORD" <<'SQL'
ALTER ROLE gridwatch_app LOGIN PASSWORD :'pw';
GRANT pg_monitor TO gridwatch_app;
ALTER ROLE gridwatch_app SET timezone = 'UTC';
ALTER ROLE gridwatch_app SET jit = off;
ALTER ROLE gridwatch_app SET plan_cache_mode = force_custom_plan;
SQL
