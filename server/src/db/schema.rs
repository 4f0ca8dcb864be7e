//! The server schema, once per backend (only the column types differ), and its version.
//!
//! Rows are never deleted: records, forks and blobs are evidence. `records` keeps the exact signed bytes
//! plus columns extracted at ingest for reports.

/// Schema version written to `meta`.
pub const VERSION: i64 = 1;

const TABLES: &str = r"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollments (
    code_hash       {BYTES} PRIMARY KEY,
    binding_type    TEXT NOT NULL,
    binding_id      TEXT NOT NULL,
    created_at_ms   {INT} NOT NULL,
    expires_at_ms   {INT} NOT NULL,
    used_by         TEXT,
    used_at_ms      {INT}
);
CREATE TABLE IF NOT EXISTS devices (
    device_id       TEXT PRIMARY KEY,
    public_key      {BYTES} NOT NULL,
    token_hash      {BYTES} NOT NULL,
    binding_type    TEXT NOT NULL,
    binding_id      TEXT NOT NULL,
    registered_at_ms {INT} NOT NULL,
    last_seen_ms    {INT} NOT NULL,
    acked_seq       {INT} NOT NULL DEFAULT 0,
    head_hash       {BYTES} NOT NULL,
    review          {INT} NOT NULL DEFAULT 0,
    review_reason   TEXT
);
CREATE TABLE IF NOT EXISTS records (
    device_id       TEXT NOT NULL,
    seq             {INT} NOT NULL,
    prev_hash       {BYTES} NOT NULL,
    kind            TEXT NOT NULL,
    payload         {BYTES} NOT NULL,
    hash            {BYTES} NOT NULL,
    signature       {BYTES} NOT NULL,
    received_at_ms  {INT} NOT NULL,
    employee_id     TEXT,
    site_id         TEXT,
    event_ms        {INT},
    time_source     TEXT,
    decision        TEXT,
    flags           TEXT NOT NULL DEFAULT '[]',
    flagged         {INT} NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX IF NOT EXISTS records_event ON records (kind, event_ms);
CREATE INDEX IF NOT EXISTS records_flagged ON records (flagged);
CREATE TABLE IF NOT EXISTS forks (
    id              {SERIAL},
    device_id       TEXT NOT NULL,
    seq             {INT} NOT NULL,
    stored_hash     {BYTES} NOT NULL,
    record_json     {BYTES} NOT NULL,
    received_at_ms  {INT} NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256          TEXT PRIMARY KEY,
    mime            TEXT NOT NULL,
    total           {INT} NOT NULL,
    received        {INT} NOT NULL,
    data            {BYTES} NOT NULL,
    complete        {INT} NOT NULL DEFAULT 0,
    device_id       TEXT NOT NULL,
    created_at_ms   {INT} NOT NULL,
    completed_at_ms {INT}
);
CREATE TABLE IF NOT EXISTS changes (
    cursor          {INT} PRIMARY KEY,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    permit_id       TEXT,
    body            {BYTES} NOT NULL,
    created_at_ms   {INT} NOT NULL
);
CREATE TABLE IF NOT EXISTS permits (
    permit_id       TEXT PRIMARY KEY,
    version         {INT} NOT NULL,
    document        {BYTES} NOT NULL,
    updated_at_ms   {INT} NOT NULL
);
";

/// The DDL for SQLite.
pub fn sqlite() -> String {
    TABLES
        .replace("{BYTES}", "BLOB")
        .replace("{INT}", "INTEGER")
        .replace("{SERIAL}", "INTEGER PRIMARY KEY AUTOINCREMENT")
}

/// The DDL for PostgreSQL.
pub fn postgres() -> String {
    TABLES
        .replace("{BYTES}", "BYTEA")
        .replace("{INT}", "BIGINT")
        .replace("{SERIAL}", "BIGSERIAL PRIMARY KEY")
}
