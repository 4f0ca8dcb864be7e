#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the sync tests and prints the variables to export:
#   eval "$(bash .ci/postgres.sh)"
#   SIAP_TEST_POSTGRES_URL   admin URL (trust auth, loopback, a free port)
#   SIAP_TEST_POSTGRES_DIR   the cluster's temp directory (data/, log, socket)
#   SIAP_TEST_POSTGRES_CTL   .ci/pg-ctl.sh: `bash "$SIAP_TEST_POSTGRES_CTL" stop|start|restart|status|destroy`
#                            stops and starts this same cluster on the same port (tests that prove a
#                            connection pool heals); `destroy` stops it and removes the directory.
# PostgreSQL refuses to run as root: initdb/pg_ctl run as the `postgres` user in a temp directory,
# on a free loopback port. Installs Debian's postgresql package when missing. Everything but the
# export lines goes to stderr; a non-zero exit means no usable server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
dir=$(mktemp -d /tmp/siap-pg.XXXXXX)
# No half-made cluster is left behind when a step below fails.
trap 'rc=$?; if [ "$rc" -ne 0 ]; then SIAP_TEST_POSTGRES_DIR="$dir" bash "$here/pg-ctl.sh" destroy >&2 2>/dev/null || rm -rf -- "$dir"; fi' EXIT
chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
# The settings live in the cluster's own configuration, so that a plain `pg_ctl start` (pg-ctl.sh) brings
# the server back on the same port and socket directory after a stop.
cat >> "$dir/data/postgresql.conf" <<CONF
# siap test cluster (.ci/postgres.sh)
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
max_connections = 300
CONF
echo "$bin" > "$dir/bindir"
SIAP_TEST_POSTGRES_DIR="$dir" bash "$here/pg-ctl.sh" start >&2
echo "export SIAP_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
echo "export SIAP_TEST_POSTGRES_DIR=$dir"
echo "export SIAP_TEST_POSTGRES_CTL=$here/pg-ctl.sh"
