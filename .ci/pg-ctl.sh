#!/usr/bin/env bash
# Stops and starts the throwaway PostgreSQL of .ci/postgres.sh (exported as SIAP_TEST_POSTGRES_CTL).
#
#   bash .ci/pg-ctl.sh stop [fast|immediate]   # default fast: clients are disconnected, server down
#   bash .ci/pg-ctl.sh start                   # same port, same data; returns once it accepts connections
#   bash .ci/pg-ctl.sh restart | status       # status exits 0 when running, 3 when stopped
#   bash .ci/pg-ctl.sh destroy                 # stop, then remove the cluster's directory
#
# The cluster is the directory in SIAP_TEST_POSTGRES_DIR (port and settings are in its postgresql.conf,
# the PostgreSQL bin directory in its `bindir` file, both written by .ci/postgres.sh). `stop` of a stopped
# server and `start` of a running one succeed (say so on stderr). Runs pg_ctl as the `postgres` user via
# runuser when called as root (as `cargo xtask test` does), directly when already `postgres`.
# From a Rust test:
#   Command::new("bash").arg(env::var("SIAP_TEST_POSTGRES_CTL")?).arg("stop").status()
# Nothing is printed on stdout.
set -euo pipefail
cmd=${1:-}
dir=${SIAP_TEST_POSTGRES_DIR:-}
if [ -z "$dir" ] || [ ! -f "$dir/bindir" ] || [ ! -d "$dir/data" ]; then
  echo "pg-ctl.sh: no test cluster in SIAP_TEST_POSTGRES_DIR='$dir' (set by .ci/postgres.sh)" >&2
  exit 2
fi
bin=$(cat "$dir/bindir")
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$dir" && runuser -u postgres -- "$@")
  elif [ "$(id -un)" = postgres ]; then
    "$@"
  else
    echo "pg-ctl.sh: must run as root or postgres (is $(id -un))" >&2
    exit 2
  fi
}
running() { as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }
case "$cmd" in
  stop)
    mode=${2:-fast}
    case "$mode" in fast | immediate | smart) ;; *) echo "pg-ctl.sh: stop mode $mode?" >&2; exit 2 ;; esac
    if running; then
      as_postgres "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >&2
    else
      echo "pg-ctl.sh: already stopped" >&2
    fi
    ;;
  start)
    if running; then
      echo "pg-ctl.sh: already running" >&2
    else
      as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >&2
    fi
    ;;
  restart)
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w -t 60 restart >&2
    ;;
  status)
    if running; then echo "pg-ctl.sh: running" >&2; else echo "pg-ctl.sh: stopped" >&2; exit 3; fi
    ;;
  destroy)
    if running; then as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2; fi
    case "$dir" in
      /tmp/siap-pg.*) rm -rf -- "$dir" ;;
      *) echo "pg-ctl.sh: not removing $dir (not a .ci/postgres.sh directory)" >&2 ;;
    esac
    ;;
  *)
    echo "usage: pg-ctl.sh stop [fast|immediate] | start | restart | status | destroy   (SIAP_TEST_POSTGRES_DIR=...)" >&2
    exit 2
    ;;
esac
