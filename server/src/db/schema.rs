//! The server schema, once per backend (only the column types differ), and its forward migrations.
//!
//! Rows are never deleted: records, forks and blobs are evidence. `records` keeps the exact signed bytes
//! plus columns extracted at ingest for reports. A fresh database gets the version-1 tables and then
//! every migration in order, exactly like an old database being upgraded, so both paths are one path.
//! A database whose version is newer than this build's is refused (never downgraded or wiped).

/// The schema version this build writes and understands.
pub const VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Forward migrations after version 1: (version reached, DDL with the same placeholders as the tables).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        2,
        r"
ALTER TABLE enrollments ADD COLUMN rebind_device TEXT;
ALTER TABLE blobs ADD COLUMN location TEXT NOT NULL DEFAULT 'db';
CREATE TABLE IF NOT EXISTS blob_uploads (
    sha256          TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    mime            TEXT NOT NULL,
    total           {INT} NOT NULL,
    received        {INT} NOT NULL,
    created_at_ms   {INT} NOT NULL,
    updated_at_ms   {INT} NOT NULL,
    PRIMARY KEY (sha256, device_id)
);
CREATE INDEX IF NOT EXISTS blob_uploads_age ON blob_uploads (updated_at_ms);
DELETE FROM blobs WHERE complete = 0;
ALTER TABLE forks ADD COLUMN record_hash {BYTES};
CREATE INDEX IF NOT EXISTS forks_device_seq ON forks (device_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS forks_dedup ON forks (device_id, seq, record_hash);
ALTER TABLE devices ADD COLUMN fork_count {INT} NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS device_reviews (
    device_id       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    first_at_ms     {INT} NOT NULL,
    last_at_ms      {INT} NOT NULL,
    count           {INT} NOT NULL,
    PRIMARY KEY (device_id, reason)
);
CREATE INDEX IF NOT EXISTS devices_last_seen ON devices (last_seen_ms);
",
    ),
    (
        3,
        r"
ALTER TABLE records ADD COLUMN server_decision TEXT;
ALTER TABLE records ADD COLUMN server_reasons TEXT NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS changes_entity ON changes (entity, entity_id, cursor);
CREATE TABLE IF NOT EXISTS liveness_nonces (
    nonce           TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    seq             {INT} NOT NULL
);
",
    ),
    (
        4,
        r"
CREATE TABLE IF NOT EXISTS face_enrollments (
    employee_id     TEXT NOT NULL,
    template_sha256 TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    seq             {INT} NOT NULL,
    status          TEXT NOT NULL,
    refused         TEXT NOT NULL DEFAULT '[]',
    crops           TEXT NOT NULL DEFAULT '[]',
    liveness_passed {INT},
    received_at_ms  {INT} NOT NULL,
    decided_by      TEXT,
    decided_at_ms   {INT},
    decision_reason TEXT,
    device_ids      TEXT,
    PRIMARY KEY (employee_id, template_sha256)
);
CREATE INDEX IF NOT EXISTS face_enrollments_status ON face_enrollments (status, received_at_ms);
",
    ),
    (
        5,
        r"
ALTER TABLE face_enrollments ADD COLUMN server_template {BYTES};
CREATE TABLE IF NOT EXISTS face_rechecks (
    device_id       TEXT NOT NULL,
    seq             {INT} NOT NULL,
    employee_id     TEXT NOT NULL,
    template_sha256 TEXT NOT NULL,
    crop_sha256     TEXT NOT NULL,
    status          TEXT NOT NULL,
    queued_at_ms    {INT} NOT NULL,
    similarity_bp   {INT},
    checked_at_ms   {INT},
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX IF NOT EXISTS face_rechecks_status ON face_rechecks (status, queued_at_ms);
CREATE INDEX IF NOT EXISTS face_rechecks_crop ON face_rechecks (crop_sha256, queued_at_ms);
",
    ),
    (
        6,
        r"
CREATE TABLE IF NOT EXISTS official_faces (
    employee_id     TEXT PRIMARY KEY,
    photo_sha256    TEXT NOT NULL,
    embedding       {BYTES} NOT NULL,
    updated_at_ms   {INT} NOT NULL
);
ALTER TABLE face_enrollments ADD COLUMN official_similarity_bp {INT};
",
    ),
    (
        7,
        r"
ALTER TABLE face_rechecks ADD COLUMN observations_sha256 TEXT;
ALTER TABLE face_rechecks ADD COLUMN liveness_reasons TEXT;
CREATE INDEX IF NOT EXISTS face_rechecks_observations ON face_rechecks (observations_sha256, queued_at_ms);
",
    ),
    (
        8,
        r"
ALTER TABLE face_enrollments ADD COLUMN observations_sha256 TEXT;
ALTER TABLE face_enrollments ADD COLUMN liveness_rechecked {INT};
",
    ),
    (
        9,
        r"
CREATE TABLE IF NOT EXISTS admins (
    name            TEXT PRIMARY KEY,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    disabled        {INT} NOT NULL DEFAULT 0,
    created_at_ms   {INT} NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_tokens (
    token_hash      {BYTES} PRIMARY KEY,
    admin           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    label           TEXT NOT NULL,
    created_at_ms   {INT} NOT NULL,
    expires_at_ms   {INT} NOT NULL,
    revoked         {INT} NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS admin_tokens_admin ON admin_tokens (admin);
CREATE TABLE IF NOT EXISTS audit_log (
    id              {INT} PRIMARY KEY,
    at_ms           {INT} NOT NULL,
    actor           TEXT NOT NULL,
    role            TEXT NOT NULL,
    method          TEXT NOT NULL,
    route           TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          {INT} NOT NULL,
    body_sha256     TEXT,
    body            TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('audit_head', '0000000000000000000000000000000000000000000000000000000000000000')
    ON CONFLICT (key) DO NOTHING;
",
    ),
    (
        10,
        r"
CREATE TABLE IF NOT EXISTS opds (
    code            TEXT PRIMARY KEY,
    name            TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS opd_of (
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    opd             TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id)
);
CREATE INDEX IF NOT EXISTS opd_of_opd ON opd_of (opd, entity);
ALTER TABLE admins ADD COLUMN opd TEXT;
",
    ),
];

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

/// Fills the type placeholders of `ddl` for SQLite.
pub fn sqlite_ddl(ddl: &str) -> String {
    ddl.replace("{BYTES}", "BLOB")
        .replace("{INT}", "INTEGER")
        .replace("{SERIAL}", "INTEGER PRIMARY KEY AUTOINCREMENT")
}

/// Fills the type placeholders of `ddl` for PostgreSQL.
pub fn postgres_ddl(ddl: &str) -> String {
    ddl.replace("{BYTES}", "BYTEA")
        .replace("{INT}", "BIGINT")
        .replace("{SERIAL}", "BIGSERIAL PRIMARY KEY")
}

/// The version-1 DDL for SQLite.
pub fn sqlite() -> String {
    sqlite_ddl(TABLES)
}

/// The version-1 DDL for PostgreSQL.
pub fn postgres() -> String {
    postgres_ddl(TABLES)
}

/// The migrations to run on a database at `current` (0: empty), or an error for a newer database.
pub fn pending(current: i64) -> Result<&'static [(i64, &'static str)], crate::ServerError> {
    if current > VERSION {
        return Err(crate::ServerError::Internal(format!(
            "database schema version {current} is newer than this server ({VERSION}); upgrade the server"
        )));
    }
    Ok(&MIGRATIONS[MIGRATIONS.iter().take_while(|(v, _)| *v <= current).count()..])
}
