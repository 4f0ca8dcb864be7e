//! The schema of the device database: its version, its SQL and every upgrade step, in one place.
//!
//! `PRAGMA user_version` holds the version. [`MIGRATIONS`] is append-only: step `i` takes a database
//! from version `i` to `i + 1`. Never edit a shipped step; add a new one.

/// Forward migrations; index `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r"
-- This device's identity: one row. The private key is sealed (AES-GCM) unless a platform signer holds it.
CREATE TABLE device (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    device_id       TEXT    NOT NULL,
    public_key      BLOB    NOT NULL,
    sealed_key      BLOB,
    created_at_ms   INTEGER NOT NULL
);

-- The ledger: append-only signed hash chain. Bytes are stored exactly as signed.
CREATE TABLE ledger (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    kind            TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    hash            BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    signature       BLOB    NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE TRIGGER ledger_is_append_only_u BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger records are immutable'); END;
CREATE TRIGGER ledger_is_append_only_d BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger records are immutable'); END;

-- Outbox: records above acked_seq are pending; blobs carry their own upload state.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq       INTEGER NOT NULL DEFAULT 0,
    last_attempt_ms INTEGER,
    last_error      TEXT
);
INSERT INTO outbox (id, acked_seq) VALUES (1, 0);

-- Content-addressed photos (inspection evidence, optionally check-in selfies).
CREATE TABLE blobs (
    sha256          BLOB    PRIMARY KEY CHECK (length(sha256) = 32),
    mime            TEXT    NOT NULL,
    data            BLOB    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    uploaded_at_ms  INTEGER
);

-- Reference data pulled from the server.
CREATE TABLE sites (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    fence           TEXT    NOT NULL
);
CREATE TABLE employees (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    site_ids        TEXT    NOT NULL DEFAULT '[]'
);
CREATE TABLE face_templates (
    employee_id     TEXT    PRIMARY KEY,
    sealed          BLOB    NOT NULL,
    model_sha256    TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE TABLE assets (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    lat             REAL    NOT NULL,
    lon             REAL    NOT NULL,
    radius_m        REAL    NOT NULL
);

-- Inspections: an index over the ledger records that carry them.
CREATE TABLE inspections (
    ledger_seq      INTEGER PRIMARY KEY REFERENCES ledger(seq),
    asset_id        TEXT    NOT NULL,
    condition       TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE TABLE inspection_photos (
    ledger_seq      INTEGER NOT NULL REFERENCES inspections(ledger_seq),
    sha256          BLOB    NOT NULL REFERENCES blobs(sha256),
    PRIMARY KEY (ledger_seq, sha256)
);

-- Permits: the signed document as received, plus columns for queries.
CREATE TABLE permits (
    id              TEXT    PRIMARY KEY,
    version         INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    document        BLOB    NOT NULL,
    signature       BLOB    NOT NULL,
    received_at_ms  INTEGER NOT NULL
);
CREATE TABLE permit_events (
    permit_id       TEXT    NOT NULL REFERENCES permits(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    note            TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (permit_id, version)
);

-- Trusted-time anchors: (server time, monotonic reading, boot id).
CREATE TABLE clock_anchors (
    id              INTEGER PRIMARY KEY,
    server_time_ms  INTEGER NOT NULL,
    monotonic_ms    INTEGER NOT NULL,
    boot_id         TEXT    NOT NULL,
    uncertainty_ms  INTEGER NOT NULL,
    wall_time_ms    INTEGER NOT NULL
);

-- Fixes already used, to flag an exact repeat (a replayed or spoofed location).
CREATE TABLE seen_fixes (
    fingerprint     TEXT    PRIMARY KEY,
    time_ms         INTEGER NOT NULL,
    lat             REAL    NOT NULL,
    lon             REAL    NOT NULL
);

-- Small settings: server URL and public key, pull cursor, registration.
CREATE TABLE settings (
    key             TEXT    PRIMARY KEY,
    value           TEXT    NOT NULL
);
";

/// Version 2: the city's signed decisions on face templates (see `crate::enrollment`). A template's
/// status is the newest decision naming its hash for this device; no decision means pending.
const V2: &str = r"
CREATE TABLE face_decisions (
    employee_id     TEXT    NOT NULL,
    template_sha256 TEXT    NOT NULL,
    decision        TEXT    NOT NULL,
    at_ms           INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    signature       BLOB    NOT NULL,
    PRIMARY KEY (employee_id, template_sha256)
);
";
