#!/usr/bin/env bash
# HTTP API fuzzing of siap-server, driven by the server's own OpenAPI document (server/openapi.json,
# served at /openapi.json), with schemathesis. Part of `cargo xtask test` (step after the Rust suite);
# by hand: `cargo xtask fuzz`, or `bash tests/fuzz/api_fuzz.sh` after a debug build.
#
#  1. a Python venv in target/fuzz-venv with the pinned packages of tests/fuzz/requirements.txt (PyPI);
#  2. target/debug/siap-server on 127.0.0.1, port chosen by the server (`--listen 127.0.0.1:0`, address
#     read from its start line `listening <addr> public_key <hex>`), a fresh temp --data-dir (SQLite), or
#     PostgreSQL when SIAP_FUZZ_DATABASE_URL is set;
#  3. schemathesis on every operation, positive and negative (malformed) inputs, with the admin token as
#     bearer on every request (device routes then answer 401, which the document allows), bounded in
#     time; fails on any 5xx (not_a_server_error) and any answer that does not conform to the document
#     (status code, content type, documented headers, response body schema);
#  4. tests/fuzz/probes.py: fixed hostile path and query values on every operation; fails on any 5xx.
#
# Environment (all optional):
#   SIAP_SERVER_BIN         server binary (default target/debug/siap-server, built when missing)
#   SIAP_ADMIN_TOKEN        admin token given to the server and sent as bearer (default: random)
#   SIAP_FUZZ_SECONDS       schemathesis time budget, seconds (default 60)
#   SIAP_FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 40)
#   SIAP_FUZZ_SEED          hypothesis seed (default 1, so a CI failure reproduces; `random` for a new one)
#   SIAP_FUZZ_CHECKS        schemathesis checks (default below)
#   SIAP_FUZZ_DATABASE_URL  run the server on this PostgreSQL URL instead of SQLite
# Reports (JUnit XML, NDJSON events, a pytest file reproducing failures) go to target/fuzz-report/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
started=$(date +%s)
venv=$root/target/fuzz-venv
reqs=$root/tests/fuzz/requirements.txt
server_bin=${SIAP_SERVER_BIN:-$root/target/debug/siap-server}
seconds=${SIAP_FUZZ_SECONDS:-60}
examples=${SIAP_FUZZ_MAX_EXAMPLES:-40}
seed=${SIAP_FUZZ_SEED:-1}
checks=${SIAP_FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance}
token=${SIAP_ADMIN_TOKEN:-fuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
report=$root/target/fuzz-report

log() { echo "api_fuzz: $*" >&2; }

# 1. schemathesis, pinned, in its own venv; reinstalled when requirements.txt changes.
stamp=$venv/.requirements.sha256
want=$(sha256sum "$reqs" | cut -d' ' -f1)
if [ ! -x "$venv/bin/st" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$reqs"
  echo "$want" > "$stamp"
fi
log "schemathesis $("$venv/bin/st" --version | awk '{print $NF}') ready after $(($(date +%s) - started)) s"

# 2. the server.
if [ ! -x "$server_bin" ]; then
  # The test step's selection, so that the build shares its artifacts (xtask/README.md, "Build time").
  log "$server_bin missing: cargo build --workspace --all-targets"
  (cd "$root" && cargo build --workspace --all-targets)
  server_bin=$root/target/debug/siap-server
fi
work=$(mktemp -d /tmp/siap-fuzz.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
db_args=()
if [ -n "${SIAP_FUZZ_DATABASE_URL:-}" ]; then db_args=(--database-url "$SIAP_FUZZ_DATABASE_URL"); fi
SIAP_ADMIN_TOKEN=$token "$server_bin" --data-dir "$work/data" --listen 127.0.0.1:0 "${db_args[@]}" \
  > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
addr=
for _ in $(seq 300); do
  addr=$(sed -n 's/^listening \([^ ]*\) public_key .*/\1/p' "$work/server.out" | head -1)
  [ -n "$addr" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "siap-server exited before listening:"; cat "$work/server.err" >&2; exit 1
  fi
  sleep 0.1
done
if [ -z "$addr" ]; then log "siap-server did not print its start line in 30 s"; cat "$work/server.err" >&2; exit 1; fi
log "siap-server listening on $addr (data dir $work/data${SIAP_FUZZ_DATABASE_URL:+, PostgreSQL})"

# 3. schemathesis. One worker: with two, hypothesis' lambda descriptions (ast.parse from two threads) hit a
# CPython 3.11 race ("SystemError: AST constructor recursion depth mismatch") that fails the run.
seed_args=()
if [ "$seed" != random ]; then seed_args=(--seed "$seed"); fi
rm -rf "$report"
mkdir -p "$report"
set +e
(cd "$work" && "$venv/bin/st" run "http://$addr/openapi.json" \
  --checks "$checks" \
  --header "Authorization: Bearer $token" \
  --max-examples "$examples" \
  --max-time "$seconds" \
  "${seed_args[@]}" \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  --report junit,ndjson,pytest --report-dir "$report")
status=$?
# Fixed hostile inputs schemathesis does not send (NUL and invalid UTF-8 in path and query parameters,
# out-of-range integers, long ids): fails on any 5xx.
"$venv/bin/python" "$root/tests/fuzz/probes.py" "http://$addr" "$token" || status=1
set -e
if ! kill -0 "$server_pid" 2>/dev/null; then
  log "siap-server died during the run:"; tail -50 "$work/server.err" >&2; status=1
fi
if grep -qi 'panicked' "$work/server.err"; then
  log "siap-server panicked during the run:"; grep -i -A5 'panicked' "$work/server.err" | head -40 >&2; status=1
fi
log "finished in $(($(date +%s) - started)) s (exit $status; schemathesis reports in $report)"
if [ "$status" -ne 0 ]; then
  log "FAILED: see the failures above (target/fuzz-report/ has a pytest file that replays schemathesis' failures)"
fi
exit "$status"
