#!/bin/sh
# Run once by the postgis image when the primary's data folder is created
# (/docker-entrypoint-initdb.d): the role the standby streams as, allowed to connect for
# replication from the compose network (docker-compose.prod.yml).
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$REPLICATION_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
