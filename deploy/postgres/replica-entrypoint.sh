#!/bin/sh
# The streaming standby: on a first start (empty data folder) a base backup of the primary,
# taken with -R (standby.signal and primary_conninfo written for us) over a replication slot
# of its own, so the primary keeps the WAL the standby has not replayed yet. Then the postgis
# image's usual entrypoint, which starts PostgreSQL as a hot standby.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
    export PGPASSWORD="$REPLICATION_PASSWORD"
    pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" \
        -R -X stream -C -S "${REPLICA_SLOT:-replica1}" --checkpoint=fast --progress
    chmod 700 "$PGDATA"
fi
exec docker-entrypoint.sh "$@"
