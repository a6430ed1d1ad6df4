#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1:${PGPORT:-55432} (trust auth, loopback
# only) and prints its DSN on stdout. Used by .ci/run for the dataset PostgreSQL tests.
set -euo pipefail
port="${PGPORT:-55432}"
# Take the next free port if something already listens there.
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/streamd-pg.XXXXXX)
chown postgres "$dir"
su postgres -s /bin/sh -c "'$pgbin/initdb' -D '$dir/data' -U streamd --auth=trust" >"$dir/initdb.log" 2>&1
su postgres -s /bin/sh -c "'$pgbin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"-c listen_addresses=127.0.0.1 -p $port -k $dir\" start" >/dev/null
echo "postgres://streamd@127.0.0.1:$port/postgres?sslmode=disable"
