#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on 127.0.0.1, its URL in FAIRTRAIN_TEST_POSTGRES_URL.
# Uses Debian's postgresql binaries (apt-get install postgresql); runs the server as the 'postgres' user
# when invoked as root, because PostgreSQL refuses to run as root.
set -euo pipefail
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2
  exit 3
fi
PGDIR=$(mktemp -d /tmp/fairtrain-pg.XXXXXX)
PORT=${PGPORT_TEST:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; fi
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -o "-h 127.0.0.1 -p $PORT -k $PGDIR -F -c max_connections=200" start >/dev/null
export FAIRTRAIN_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
"$@"
