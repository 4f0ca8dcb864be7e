#!/usr/bin/env bash
# HTTP API fuzzing of siap-server, driven by the server's own OpenAPI document (server/openapi.json,
# served at /openapi.json), with schemathesis. Part of `cargo xtask test` (step after the Rust suite);
# by hand: `cargo xtask fuzz`, or `bash tests/fuzz/api_fuzz.sh` after a debug build.
#
#  1. a Python venv in target/fuzz-venv with the pinned packages of tests/fuzz/requirements.txt (PyPI:
#     schemathesis, and cryptography for the device key);
#  2. target/debug/siap-server on 127.0.0.1, port chosen by the server (`--listen 127.0.0.1:0`, address
#     and public key read from its start line `listening <addr> public_key <hex>`), a fresh temp
#     --data-dir (SQLite), or PostgreSQL when SIAP_FUZZ_DATABASE_URL is set;
#  3. tests/fuzz/register_device.py registers a real device as a phone does (new P-256 key, one-time code
#     from POST /v1/admin/enrollments, POST /v1/register with the proof): its id, bearer token and key;
#  4. schemathesis, positive and negative (malformed) inputs, bounded in time, in two runs that split the
#     budget: every operation but the device routes with the admin token as bearer (2/3 of the time),
#     then the device routes (POST /v1/records, GET/PUT /v1/blobs/{sha}, GET /v1/changes) with the
#     device's token as bearer and its id in x-siap-device-id (1/3). The device run draws, with
#     probability 0.5 to 0.8, from a few well-formed values (the device's own id, 64-hex blob ids and
#     hashes, record kinds) where the document only says "string", so that generated requests get past
#     parsing into the routes' logic. Both fail on any 5xx (not_a_server_error) and any answer that does
#     not conform to the document (status code, content type, documented headers, response body schema);
#  5. tests/fuzz/probes.py: fixed hostile path and query values on every operation (device credentials on
#     the device routes, the admin token elsewhere), hostile values in every field of an upload batch,
#     and validly signed records with hostile kinds and payloads followed by the admin reports that show
#     them; fails on any 5xx or a request that gets no answer.
#
# Environment (all optional):
#   SIAP_SERVER_BIN         server binary (default target/debug/siap-server, built when missing)
#   SIAP_ADMIN_TOKEN        admin token given to the server and sent as bearer (default: random)
#   SIAP_FUZZ_SECONDS       schemathesis time budget of both runs together, seconds (default 60)
#   SIAP_FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 40)
#   SIAP_FUZZ_SEED          hypothesis seed (default 1, so a CI failure reproduces; `random` for a new one)
#   SIAP_FUZZ_CHECKS        schemathesis checks (default below)
#   SIAP_FUZZ_DATABASE_URL  run the server on this PostgreSQL URL instead of SQLite
# Reports (JUnit XML, NDJSON events, a pytest file reproducing failures) go to target/fuzz-report/admin/
# and target/fuzz-report/device/.
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
  log "installing schemathesis and cryptography into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian ships venv's pip bootstrap separately (python3-venv); install it like the other test tools.
    log "python3 -m venv failed; installing python3-venv"
    rm -rf "$venv"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    python3 -m venv "$venv"
  fi
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
server_key=$(sed -n 's/^listening [^ ]* public_key \([0-9a-fA-F]*\).*/\1/p' "$work/server.out" | head -1)
log "siap-server listening on $addr (data dir $work/data${SIAP_FUZZ_DATABASE_URL:+, PostgreSQL})"

# 3. a registered device, for the device routes.
if ! device=$("$venv/bin/python" "$root/tests/fuzz/register_device.py" "http://$addr" "$token" "$server_key" "$work/device-key.pem"); then
  log "could not register a device"; tail -20 "$work/server.err" >&2; exit 1
fi
read -r device_id device_token <<< "$device"
log "registered device $device_id after $(($(date +%s) - started)) s"

# 4. schemathesis. One worker: with two, hypothesis' lambda descriptions (ast.parse from two threads) hit a
# CPython 3.11 race ("SystemError: AST constructor recursion depth mismatch") that fails the run.
device_routes='^/v1/(records|blobs/[^/]+|changes)$'
admin_seconds=$((seconds * 2 / 3)); [ "$admin_seconds" -ge 1 ] || admin_seconds=1
device_seconds=$((seconds - admin_seconds)); [ "$device_seconds" -ge 1 ] || device_seconds=1
seed_args=()
if [ "$seed" != random ]; then seed_args=(--seed "$seed"); fi
# Well-formed values where the document only says "string" (a blob id is 64 lowercase hex characters, a
# batch must name the authenticated device, record hashes are 64 hex characters): without them nearly
# every generated device request stops at parsing. Each is drawn with the probability given; otherwise
# the value is generated as usual.
hex() { printf '%s' "$1" | sha256sum | cut -c1-64; }
zeros=$(printf '0%.0s' $(seq 64))
cat > "$work/device.toml" <<TOML
[dictionaries.sha]
values = ["$(hex '')", "$(hex fuzz)", "$zeros", "$(printf 'f%.0s' $(seq 64))"]
[dictionaries.device]
values = ["$device_id"]
[dictionaries.hash]
values = ["$zeros", "$(hex fuzz)"]
[dictionaries.kind]
values = ["attendance.check_in", "attendance.check_out", "inspection.recorded"]
[parameters]
"path.sha" = { dictionary = "sha", probability = 0.5 }
"body.device_id" = { dictionary = "device", probability = 0.8 }
"body.records[*].device_id" = { dictionary = "device", probability = 0.8 }
"body.records[*].prev_hash" = { dictionary = "hash", probability = 0.8 }
"body.records[*].hash" = { dictionary = "hash", probability = 0.8 }
"body.records[*].kind" = { dictionary = "kind", probability = 0.5 }
TOML
common=(--checks "$checks" --max-examples "$examples" "${seed_args[@]}" --workers 1 --request-timeout 10
  --generation-database none --no-color --report junit,ndjson,pytest)
rm -rf "$report"
mkdir -p "$report/admin" "$report/device"
set +e
log "schemathesis with the admin token, every operation but the device routes, $admin_seconds s"
(cd "$work" && "$venv/bin/st" run "http://$addr/openapi.json" "${common[@]}" \
  --exclude-path-regex "$device_routes" \
  --header "Authorization: Bearer $token" \
  --max-time "$admin_seconds" \
  --report-dir "$report/admin")
status=$?
log "schemathesis as device $device_id, the device routes only, $device_seconds s"
(cd "$work" && "$venv/bin/st" --config-file "$work/device.toml" run "http://$addr/openapi.json" "${common[@]}" \
  --include-path-regex "$device_routes" \
  --header "Authorization: Bearer $device_token" \
  --header "x-siap-device-id: $device_id" \
  --max-time "$device_seconds" \
  --report-dir "$report/device") || status=1
# 5. Fixed hostile inputs schemathesis does not send (NUL and invalid UTF-8 in path and query parameters
# and batch fields, out-of-range integers, long ids, validly signed records with hostile payloads): fails
# on any 5xx.
"$venv/bin/python" "$root/tests/fuzz/probes.py" "http://$addr" "$token" "$device_id" "$device_token" \
  "$work/device-key.pem" || status=1
set -e
if ! kill -0 "$server_pid" 2>/dev/null; then
  log "siap-server died during the run:"; tail -50 "$work/server.err" >&2; status=1
fi
if grep -qi 'panicked' "$work/server.err"; then
  log "siap-server panicked during the run:"; grep -i -A5 'panicked' "$work/server.err" | head -40 >&2; status=1
fi
log "finished in $(($(date +%s) - started)) s (exit $status; schemathesis reports in $report)"
if [ "$status" -ne 0 ]; then
  log "FAILED: see the failures above (target/fuzz-report/{admin,device}/ have pytest files that replay schemathesis' failures)"
fi
exit "$status"
