"""Registers a fresh device with a running siap-server, so that the fuzz run can reach the device routes.

Run by api_fuzz.sh after the server starts (same venv: `requests` comes with schemathesis, `cryptography`
is pinned in requirements.txt):

    python register_device.py http://127.0.0.1:PORT ADMIN_TOKEN SERVER_PUBLIC_KEY_HEX [KEY_FILE]

Prints `DEVICE_ID DEVICE_TOKEN` on one line of stdout, and writes the device's private key (PKCS#8 PEM)
to KEY_FILE when given (probes.py signs records with it). Steps, as a phone does them:

1. a new P-256 key;
2. `POST /v1/admin/enrollments` (admin bearer), binding employee `fuzz-e1`: a one-time code;
3. `POST /v1/register` with the code, the device key (uncompressed point, base64) and the proof: ECDSA
   P-256/SHA-256 (DER, base64) over `b"SIAP-REGISTER-v1\\0"` followed by, each prefixed by its length as
   a 4-byte big-endian integer, the normalised code (ASCII letters and digits, upper case), the device
   key and the server key (65 bytes, from the server's start line);
4. the answer is a signed blob `{"body", "signature"}` whose body (base64 JSON) holds `device_id` and
   `device_token`. Its signature is not checked here: this is a test client of a server just started.
"""

import base64
import json
import struct
import sys

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REGISTER_DOMAIN = b"SIAP-REGISTER-v1\x00"


def registration_message(code: str, device_key: bytes, server_key: bytes) -> bytes:
    normalised = "".join(c.upper() for c in code if c.isascii() and c.isalnum()).encode("ascii")
    m = REGISTER_DOMAIN
    for part in (normalised, device_key, server_key):
        m += struct.pack(">I", len(part)) + part
    return m


def fail(what: str, r: requests.Response) -> None:
    sys.exit(f"register_device: {what}: {r.status_code} {r.text[:300]}")


def main() -> int:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    base, admin_token, server_key_hex = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    server_key = bytes.fromhex(server_key_hex)
    if len(server_key) != 65:
        sys.exit(f"register_device: server public key is {len(server_key)} bytes, expected 65")

    key = ec.generate_private_key(ec.SECP256R1())
    device_key = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    r = requests.post(
        f"{base}/v1/admin/enrollments",
        json={"binding": {"type": "employee", "id": "fuzz-e1"}},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    if r.status_code != 201:
        fail("POST /v1/admin/enrollments", r)
    code = r.json()["code"]

    proof = key.sign(registration_message(code, device_key, server_key), ec.ECDSA(hashes.SHA256()))
    r = requests.post(
        f"{base}/v1/register",
        json={
            "enrollment_code": code,
            "public_key": base64.b64encode(device_key).decode(),
            "proof": base64.b64encode(proof).decode(),
        },
        timeout=30,
    )
    if r.status_code != 200:
        fail("POST /v1/register", r)
    body = json.loads(base64.b64decode(r.json()["body"]))
    device_id, token = body["device_id"], body["device_token"]
    if not device_id or not token or any(c.isspace() for c in device_id + token):
        sys.exit(f"register_device: unexpected registration body {body!r}")
    if len(sys.argv) == 5:
        with open(sys.argv[4], "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    print(device_id, token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
