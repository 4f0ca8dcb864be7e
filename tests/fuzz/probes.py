"""Fixed hostile inputs that schemathesis does not generate, sent to every operation of the served document.

Run by api_fuzz.sh after schemathesis (same venv: `requests` comes with schemathesis):

    python probes.py http://127.0.0.1:PORT ADMIN_TOKEN

For each operation of /openapi.json: every path parameter replaced in turn by each raw (already
percent-encoded) value below, every query parameter likewise, with the admin token as bearer and, for
operations with a JSON body, a minimal object body. Fails (exit 1) on any 5xx or a dropped connection;
prints, without failing, any 4xx whose body is not the documented JSON error (`{"error": ...}`).
"""

import json
import re
import sys

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


def main() -> int:
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    session = requests.Session()
    failures, oddities, sent = [], [], 0
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            params = op.get("parameters", []) + item.get("parameters", [])
            path_names = re.findall(r"{([^}]+)}", template)
            query_names = [p["name"] for p in params if p.get("in") == "query"]
            body = "{}" if "requestBody" in op else None
            cases = []
            for name in path_names:
                for v in HOSTILE:
                    path = template
                    for other in path_names:
                        path = path.replace("{" + other + "}", v if other == name else "x")
                    cases.append((path, ""))
            for name in query_names:
                plain = template
                for other in path_names:
                    plain = plain.replace("{" + other + "}", "x")
                for v in HOSTILE:
                    cases.append((plain, f"?{name}={v}"))
            for path, query in cases:
                url = f"{base}{path}{query}"
                # A prepared request keeps the raw percent-encoding of the URL.
                req = requests.Request(
                    method.upper(),
                    url,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    data=body,
                ).prepare()
                req.url = url
                sent += 1
                try:
                    r = session.send(req, timeout=10)
                except requests.RequestException as e:
                    failures.append(f"{method.upper()} {path}{query[:80]}: no answer ({e.__class__.__name__})")
                    continue
                if r.status_code >= 500:
                    failures.append(f"{method.upper()} {path[:120]}{query[:80]}: {r.status_code} {r.text[:160]}")
                elif r.status_code >= 400:
                    try:
                        ok = isinstance(r.json(), dict) and "error" in r.json()
                    except ValueError:
                        ok = False
                    if not ok:
                        oddities.append(
                            f"{method.upper()} {path[:120]}{query[:80]}: {r.status_code} "
                            f"{r.headers.get('content-type')} {r.text[:100]!r}"
                        )
    for o in sorted(set(oddities)):
        print(f"probes: note: 4xx without the documented JSON error body: {o}", file=sys.stderr)
    for f in failures:
        print(f"probes: FAILED: {f}", file=sys.stderr)
    print(f"probes: {sent} requests, {len(failures)} failed, {len(oddities)} notes", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
