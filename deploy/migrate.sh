#!/bin/sh
# The one-shot `migrate` service of docker-compose.prod.yml, as the database's owner:
# migrations, then the login of the non-owner role the app containers connect as
# (gridwatch_app: created and granted row rights only by `gridwatch migrate`,
# app/sql/app_role.sql), and pg_monitor so /metrics can read the standbys' lag.
set -eu
gridwatch migrate
psql "$GRIDWATCH_DATABASE_URL" -v ON_ERROR_STOP=1 -v pw="$GRIDWATCH_APP_PASSWORD" <<'SQL'
ALTER ROLE gridwatch_app LOGIN PASSWORD :'pw';
GRANT pg_monitor TO gridwatch_app;
SQL
