"""Fixed hostile inputs that schemathesis does not generate, sent to every operation of the served document.

Run by api_fuzz.sh after schemathesis (same venv: `requests` comes with schemathesis, `cryptography` is
pinned in requirements.txt):

    python probes.py http://127.0.0.1:PORT ADMIN_TOKEN [DEVICE_ID DEVICE_TOKEN [DEVICE_KEY_FILE]]

1. For each operation of /openapi.json: every path parameter replaced in turn by each raw (already
   percent-encoded) value below, every query parameter likewise, the other parameters well-formed (a real
   blob id, the registered device's id, the required query parameters). The device routes (security
   `deviceAuth`) are sent with the device's token as bearer and its id in x-siap-device-id when a device
   is given, every other operation with the admin token as bearer. Operations with a JSON body get a
   minimal object body; PUT /v1/blobs/{sha} a few bytes of application/octet-stream (its body is not in
   the document).
2. With a device: POST /v1/records with each hostile value (percent-decoded: NUL, invalid UTF-8, huge
   numbers...) in each field of an upload batch.
3. With its key (DEVICE_KEY_FILE, PKCS#8 PEM from register_device.py): correctly hashed, chained and
   signed records whose kind or payload is hostile (NUL, invalid UTF-8, extreme times and coordinates,
   long ids), so that they get past verification into storage and the report columns; then the admin
   reports and device listings that show those rows.

Fails (exit 1) on any 5xx or a request that gets no answer; prints, without failing, any 4xx whose body is
not the documented JSON error (`{"error": ...}`), and any request that found its kept-alive connection
closed without `Connection: close` (it is resent once on a new connection: the server closes a connection
when it answered before the request body arrived, hyper's behaviour, and the next request on it is lost).
"""

import base64
import hashlib
import json
import re
import struct
import sys
import time
import urllib.parse

import requests

# Raw path/query text, sent exactly as written (already percent-encoded where needed).
HOSTILE = [
    "%00",  # NUL: PostgreSQL text cannot hold it
    "a%00b",
    "%FF",  # not UTF-8
    "%C0%AF",  # overlong UTF-8 '/'
    "%F0%9F%92%A9",  # 4-byte UTF-8
    "..%2F..%2Fetc%2Fpasswd",
    "%25",
    "%20",
    "-1",
    "-9223372036854775808",
    "9223372036854775808",  # i64::MAX + 1
    "99999999999999999999999999",
    "1e308",
    "NaN",
    "0x10",
    "x" * 4096,
]

# The bytes a PUT /v1/blobs/{sha} probe uploads, and their id.
BLOB = b"siap fuzz probe blob"
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()

RECORD_DOMAIN = b"SIAP-LEDGER-RECORD-v1\x00"
ZERO_HASH = bytes(32)
NUMBER = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class Run:
    def __init__(self, base):
        self.base = base
        self.session = requests.Session()
        self.failures, self.oddities, self.reconnects, self.sent = [], [], [], 0
        self.previous = None

    def send(self, method, path_and_query, headers, body=None, what=None):
        """Sends one request with the URL exactly as given; returns the response or None."""
        url = f"{self.base}{path_and_query}"
        label = what or f"{method} {path_and_query[:200]}"
        self.sent += 1
        r = None
        for attempt in (1, 2):
            req = requests.Request(method, url, headers=headers, data=body).prepare()
            req.url = url  # keep the raw percent-encoding
            try:
                r = self.session.send(req, timeout=30)
                break
            except requests.ConnectionError as e:
                # A kept-alive connection the server closed after the previous answer without saying so
                # (no `Connection: close`): resent once on a new connection, noted, not a failure.
                self.session.close()
                self.session = requests.Session()
                if attempt == 1 and self.previous is not None:
                    self.reconnects.append(f"{label} (after {self.previous}): {str(e)[-100:]}")
                    continue
                self.failures.append(f"{label}: no answer ({e.__class__.__name__}: {str(e)[-160:]})")
            except requests.RequestException as e:
                self.failures.append(f"{label}: no answer ({e.__class__.__name__}: {str(e)[-160:]})")
                break
        self.previous = label[:160]
        if r is None:
            return None
        if r.status_code >= 500:
            self.failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        elif r.status_code >= 400:
            try:
                ok = isinstance(r.json(), dict) and "error" in r.json()
            except ValueError:
                ok = False
            if not ok:
                self.oddities.append(f"{label}: {r.status_code} {r.headers.get('content-type')} {r.text[:100]!r}")
        return r


def json_string(raw: bytes) -> bytes:
    """A JSON string holding `raw`: escaped when it is UTF-8, else the raw bytes (invalid JSON text)."""
    try:
        return json.dumps(raw.decode("utf-8")).encode()
    except UnicodeDecodeError:
        return b'"' + raw + b'"'


def json_number(raw: bytes) -> bytes:
    """`raw` as a bare JSON number when it looks like one (NaN, 0x10: sent bare too), else as a string."""
    if NUMBER.fullmatch(raw) or raw in (b"NaN", b"0x10"):
        return raw
    return json_string(raw)


def path_probes(run, doc, admin, device, device_id):
    """Step 1: hostile path and query values on every operation."""
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            device_op = any("deviceAuth" in s for s in op.get("security", []))
            headers = dict(device if device_op and device else admin)
            params = op.get("parameters", []) + item.get("parameters", [])
            path_names = re.findall(r"{([^}]+)}", template)
            query_params = [p for p in params if p.get("in") == "query"]
            body = None
            if "requestBody" in op:
                body = "{}"
                headers["Content-Type"] = "application/json"
            elif method == "put" and template == "/v1/blobs/{sha}":
                body = BLOB
                headers["Content-Type"] = "application/octet-stream"

            def benign_path(name):
                if name == "sha":
                    return BLOB_SHA
                if name == "id" and template.startswith("/v1/admin/devices/") and device_id:
                    return device_id
                return "x"

            def benign_query(p):
                return {"offset": "0", "total": str(len(BLOB)), "date": time.strftime("%Y-%m-%d", time.gmtime())}.get(
                    p["name"], "1" if p.get("schema", {}).get("type") == "integer" else "x"
                )

            def fill(path_value=None, path_name=None):
                path = template
                for other in path_names:
                    v = path_value if other == path_name else benign_path(other)
                    path = path.replace("{" + other + "}", v)
                return path

            cases = []
            required_query = "&".join(f"{p['name']}={benign_query(p)}" for p in query_params if p.get("required"))
            for name in path_names:
                for v in HOSTILE:
                    cases.append(fill(v, name) + (f"?{required_query}" if required_query else ""))
            for p in query_params:
                others = "".join(
                    f"&{o['name']}={benign_query(o)}" for o in query_params if o.get("required") and o is not p
                )
                for v in HOSTILE:
                    cases.append(f"{fill()}?{p['name']}={v}{others}")
            for path_and_query in cases:
                run.send(method.upper(), path_and_query, headers, body)


def batch_field_probes(run, device, device_id):
    """Step 2: hostile values in every field of an upload batch (the records route has no parameters)."""
    headers = dict(device, **{"Content-Type": "application/json"})
    fields = {
        "device_id": json_string,
        "seq": json_number,
        "prev_hash": json_string,
        "kind": json_string,
        "payload": json_string,
        "hash": json_string,
        "signature": json_string,
    }
    good = {
        "device_id": json.dumps(device_id).encode(),
        "seq": b"1",
        "prev_hash": json.dumps(ZERO_HASH.hex()).encode(),
        "kind": b'"attendance.check_in"',
        "payload": b'"e30="',
        "hash": json.dumps(ZERO_HASH.hex()).encode(),
        "signature": b'"AA=="',
    }
    for v in HOSTILE:
        raw = urllib.parse.unquote_to_bytes(v)
        top = b'{"device_id":' + json_string(raw) + b',"records":[]}'
        run.send("POST", "/v1/records", headers, top, what=f"POST /v1/records device_id={v[:40]!r}")
        for field, encode in fields.items():
            rec = dict(good, **{field: encode(raw)})
            record = b"{" + b",".join(json.dumps(k).encode() + b":" + rec[k] for k in fields) + b"}"
            body = b'{"device_id":' + good["device_id"] + b',"records":[' + record + b"]}"
            run.send("POST", "/v1/records", headers, body, what=f"POST /v1/records records[0].{field}={v[:40]!r}")


def attendance_payload(now_ms: int) -> dict:
    """A well-formed `attendance.check_in` payload (core::attendance::AttendancePayload)."""
    return {
        "v": 1,
        "employee_id": "fuzz-e1",
        "direction": "in",
        "decision": "accepted",
        "reasons": [],
        "geo": {
            "site_id": "fuzz-s1",
            "containment": "inside",
            "distance_to_edge_m": -5.0,
            "accuracy_m": 5.0,
            "flags": [],
        },
        "fix": {
            "lat": -6.2,
            "lon": 106.8,
            "accuracy_m": 5.0,
            "time_ms": now_ms,
            "provider": "gps",
            "is_mock": False,
        },
        "time": {
            "device_wall_ms": now_ms,
            "monotonic": {"monotonic_ms": 1000, "boot_id": "fuzz-boot"},
            "trusted": {"status": "anchored", "estimate_ms": now_ms, "uncertainty_ms": 10, "anchor_age_ms": 1000},
            "skew_ms": 0,
            "clock_skew": False,
        },
        "face": None,
    }


def inspection_payload(now_ms: int) -> dict:
    """A well-formed `inspection.recorded` payload (core::inspection::InspectionPayload)."""
    a = attendance_payload(now_ms)
    return {
        "v": 1,
        "asset_id": "fuzz-a1",
        "condition": "good",
        "notes": "",
        "photos": [BLOB_SHA],
        "proximity": a["geo"],
        "fix": a["fix"],
        "time": a["time"],
    }


MARK = "\ue000HOSTILE\ue000"


def hostile_payloads(now_ms: int):
    """(label, kind, payload bytes): well-formed payloads with one hostile value each."""
    strings = [
        ("employee_id", "attendance.check_in", ["employee_id"]),
        ("geo.site_id", "attendance.check_in", ["geo", "site_id"]),
        ("fix.provider", "attendance.check_out", ["fix", "provider"]),
        ("time.monotonic.boot_id", "attendance.check_in", ["time", "monotonic", "boot_id"]),
        ("asset_id", "inspection.recorded", ["asset_id"]),
        ("notes", "inspection.recorded", ["notes"]),
        ("photos[0]", "inspection.recorded", ["photos", 0]),
    ]
    numbers = [
        ("time.device_wall_ms", "attendance.check_in", ["time", "device_wall_ms"]),
        ("time.trusted.estimate_ms", "attendance.check_in", ["time", "trusted", "estimate_ms"]),
        ("time.skew_ms", "attendance.check_in", ["time", "skew_ms"]),
        ("fix.lat", "attendance.check_in", ["fix", "lat"]),
        ("geo.distance_to_edge_m", "attendance.check_in", ["geo", "distance_to_edge_m"]),
        ("v", "attendance.check_in", ["v"]),
        ("time.device_wall_ms", "inspection.recorded", ["time", "device_wall_ms"]),
    ]

    def with_mark(kind, path):
        p = inspection_payload(now_ms) if kind == "inspection.recorded" else attendance_payload(now_ms)
        node = p
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = MARK
        return json.dumps(p).encode().replace(json.dumps(MARK).encode(), b"\x01")

    raws = [urllib.parse.unquote_to_bytes(v) for v in HOSTILE] + [b"y" * 60000, b"\\u0000", b"<script>", b'=cmd|"/c calc"!A1']
    for label, kind, path in strings:
        template = with_mark(kind, path)
        for raw in raws:
            yield f"{kind} {label}={raw[:24]!r}", kind, template.replace(b"\x01", json_string(raw))
    for label, kind, path in numbers:
        template = with_mark(kind, path)
        for raw in [b"0", b"-1", b"-9223372036854775808", b"9223372036854775807", b"9223372036854775808", b"1e308",
                    b"-1e308", b"1e-320", b"99999999999999999999999999"]:
            yield f"{kind} {label}={raw.decode()}", kind, template.replace(b"\x01", raw)
    # Whole payloads: not JSON, NUL bytes, not UTF-8, empty, the largest allowed and one byte more.
    for label, payload in [
        ("empty", b""),
        ("NUL bytes", b"\x00" * 16),
        ("not UTF-8", b"\xff\xfe{"),
        ("JSON null", b"null"),
        ("deep JSON", b"[" * 5000 + b"]" * 5000),
        ("64 KiB", b"z" * 65536),
        ("64 KiB + 1", b"z" * 65537),
    ]:
        yield f"attendance.check_in payload {label}", "attendance.check_in", payload
    # Kinds outside the allowed set (refused before storage) and at its limits.
    for kind in ["", "a" * 64, "a" * 65, "Attendance", "attendance.check_in\x00", "é", "a b"]:
        yield f"kind {kind[:24]!r}", kind, json.dumps(attendance_payload(now_ms)).encode()


def record_hash(device_id: str, seq: int, prev: bytes, kind: bytes, payload: bytes) -> bytes:
    h = hashlib.sha256(RECORD_DOMAIN)
    d = device_id.encode()
    h.update(struct.pack(">I", len(d)) + d + struct.pack(">Q", seq) + prev)
    h.update(struct.pack(">I", len(kind)) + kind + struct.pack(">I", len(payload)) + payload)
    return h.digest()


def signed_record_probes(run, device, device_id, key_file, admin):
    """Step 3: valid records (hash, chain, signature) carrying hostile kinds and payloads."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    headers = dict(device, **{"Content-Type": "application/json"})
    now_ms = int(time.time() * 1000)
    seq, prev = 0, ZERO_HASH
    r = run.send("POST", "/v1/records", headers, json.dumps({"device_id": device_id, "records": []}), "POST /v1/records (head)")
    if r is not None and r.status_code == 200:
        ack = json.loads(base64.b64decode(r.json()["body"]))
        seq, prev = ack["acked_seq"], bytes.fromhex(ack["acked_hash"])
    stored = 0
    for label, kind, payload in hostile_payloads(now_ms):
        kind_b = kind.encode()
        h = record_hash(device_id, seq + 1, prev, kind_b, payload)
        sig = key.sign(h, ec.ECDSA(hashes.SHA256()))
        record = {
            "device_id": device_id,
            "seq": seq + 1,
            "prev_hash": prev.hex(),
            "kind": kind,
            "payload": base64.b64encode(payload).decode(),
            "hash": h.hex(),
            "signature": base64.b64encode(sig).decode(),
        }
        r = run.send(
            "POST", "/v1/records", headers, json.dumps({"device_id": device_id, "records": [record]}),
            what=f"POST /v1/records signed seq {seq + 1} {label}",
        )
        if r is not None and r.status_code == 200:
            ack = json.loads(base64.b64decode(r.json()["body"]))
            if ack["acked_seq"] == seq + 1:
                seq, prev, stored = seq + 1, h, stored + 1
    day = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))
    # The rows those records made, as the console reads them.
    for path in [
        f"/v1/admin/reports/attendance?date={day}",
        f"/v1/admin/reports/attendance?date={day}&format=csv",
        "/v1/admin/reports/flagged",
        "/v1/admin/reports/forks",
        "/v1/admin/reports/stale-devices?days=0",
        "/v1/admin/devices",
        "/v1/admin/devices?review=true",
        f"/v1/admin/devices/{device_id}/records",
        f"/v1/admin/devices/{device_id}/records?after=0&limit=1000",
        f"/v1/admin/blobs/{BLOB_SHA}",
        "/v1/changes",
    ]:
        run.send("GET", path, device if path == "/v1/changes" else admin)
    return stored


def main() -> int:
    if len(sys.argv) not in (3, 5, 6):
        sys.exit(__doc__)
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    device_id = sys.argv[3] if len(sys.argv) > 3 else None
    device = {"Authorization": f"Bearer {sys.argv[4]}", "x-siap-device-id": device_id} if device_id else None
    key_file = sys.argv[5] if len(sys.argv) > 5 else None
    admin = {"Authorization": f"Bearer {token}"}
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    run = Run(base)
    path_probes(run, doc, admin, device, device_id)
    stored = None
    if device:
        batch_field_probes(run, device, device_id)
        if key_file:
            stored = signed_record_probes(run, device, device_id, key_file, admin)
    for o in sorted(set(run.oddities)):
        print(f"probes: note: 4xx without the documented JSON error body: {o}", file=sys.stderr)
    for o in run.reconnects:
        print(f"probes: note: connection closed without `Connection: close`, request resent: {o}", file=sys.stderr)
    for f in run.failures:
        print(f"probes: FAILED: {f}", file=sys.stderr)
    extra = f", {stored} signed hostile records stored" if stored is not None else ""
    print(
        f"probes: {run.sent} requests, {len(run.failures)} failed, {len(run.oddities) + len(run.reconnects)} notes{extra}",
        file=sys.stderr,
    )
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
