#!/usr/bin/env bash
# The test suite through PgBouncer in transaction mode (`make test-pgbouncer`): starts the
# embedded cluster, a PgBouncer in front of it on a free loopback port (pool_mode =
# transaction, as in production), and runs pytest with GRIDWATCH_TEST_DATABASE_URL pointing
# at PgBouncer and GRIDWATCH_DATABASE_POOLER=true. GRIDWATCH_TEST_DIRECT_URL names the cluster
# itself: the read-replica tests copy their standby from it (PgBouncer passes no replication
# connections), and backup/restore reach it through GRIDWATCH_DIRECT_DATABASE_URL. Extra pytest
# arguments: PYTEST_ARGS (e.g. PYTEST_ARGS="tests/api -x"). With GRIDWATCH_DATABASE_URL set,
# PgBouncer fronts that server instead of the embedded cluster (the test database:
# PGBOUNCER_TEST_DB, default gridwatch_pgbouncer). PgBouncer is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGBOUNCER" ] || { echo "pgbouncer is not installed: apt-get install -y pgbouncer" >&2; exit 1; }

server=${GRIDWATCH_DATABASE_URL:-}
unset GRIDWATCH_DATABASE_URL GRIDWATCH_TEST_DATABASE_URL
if [ -z "$server" ]; then
  $BIN/gridwatch db start >/dev/null
  server=$($BIN/gridwatch db url)            # postgresql://postgres@127.0.0.1:PORT/gridwatch
fi
db=${PGBOUNCER_TEST_DB:-gridwatch_pgbouncer}
hostport=${server#postgresql://*@}; hostport=${hostport%%/*}
host=${hostport%:*}; port=${hostport##*:}
listen=$($BIN/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

dir=$(mktemp -d /tmp/gridwatch-pgbouncer.XXXXXX)
chmod 711 "$dir"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $listen
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 40
max_client_conn = 2000
max_db_connections = 150
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
# The roles the suite connects as through it: the owner, and the app role (tests/test_deploy.py).
printf '"postgres" ""\n"gridwatch_app" ""\n' >"$dir/users.txt"
run=()
if [ "$(id -u)" -eq 0 ]; then   # PgBouncer refuses to run as root
  chown -R postgres "$dir"
  run=(runuser -u postgres --)
fi
"${run[@]}" "$PGBOUNCER" -d "$dir/pgbouncer.ini"
stop() {
  [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 50); do
  psql -q "postgresql://postgres@127.0.0.1:$listen/postgres" -c 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
echo "PgBouncer (transaction mode) on 127.0.0.1:$listen in front of $host:$port"
through="postgresql://postgres@127.0.0.1:$listen"
psql -q "$through/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"

GRIDWATCH_TEST_DATABASE_URL="$through/$db" \
GRIDWATCH_DATABASE_POOLER=true \
GRIDWATCH_TEST_DIRECT_URL="postgresql://postgres@$host:$port/postgres" \
  $BIN/pytest -n "${PYTEST_WORKERS:-auto}" --dist worksteal ${PYTEST_ARGS:-}
