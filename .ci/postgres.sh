#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the sync tests and prints the URL to export:
#   eval "$(bash .ci/postgres.sh)"   # sets SIAP_TEST_POSTGRES_URL
# PostgreSQL refuses to run as root: initdb/pg_ctl run as the `postgres` user in a temp directory,
# on a free loopback port. Installs Debian's postgresql package when missing.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
dir=$(mktemp -d /tmp/siap-pg.XXXXXX)
chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >&2
echo "export SIAP_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
echo "export SIAP_TEST_POSTGRES_DIR=$dir"
