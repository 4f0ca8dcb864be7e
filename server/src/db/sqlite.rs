//! The SQLite backend: one file, one connection (SQLite has one writer anyway), WAL with
//! `synchronous = FULL` so that an acknowledged record survives a power cut.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use super::{Row, Sql, V};
use crate::error::ServerError;

/// A SQLite database.
pub struct SqliteDb {
    conn: Mutex<Connection>,
}

impl SqliteDb {
    /// Opens (creating) the database file and its schema, migrated to the current version.
    ///
    /// The file holds personal data: it is created readable by its owner only (0600), and SQLite gives
    /// its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        conn.execute_batch(&format!("BEGIN; {} COMMIT;", super::schema::sqlite()))?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT(key) DO NOTHING",
            [],
        )?;
        let current: String = conn.query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        let current: i64 = current
            .parse()
            .map_err(|_| ServerError::Internal("schema version is not a number".into()))?;
        for (version, ddl) in super::schema::pending(current)? {
            conn.execute_batch(&format!(
                "BEGIN; {} UPDATE meta SET value = '{version}' WHERE key = 'schema_version'; COMMIT;",
                super::schema::sqlite_ddl(ddl)
            ))?;
        }
        Ok(SqliteDb {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one immediate transaction.
    pub fn tx<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.execute_batch("BEGIN IMMEDIATE")?;
        let mut tx = SqliteTx { conn: guard };
        match f(&mut tx) {
            Ok(v) => {
                tx.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Creates `path` with mode 0600 if it does not exist yet (an existing file keeps its mode).
fn create_private(path: &Path) -> Result<(), ServerError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => Err(ServerError::Internal(
            "cannot create the database file".into(),
        )),
    }
}

struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
}

/// `$1` → `?1` (SQLite's numbered parameters).
fn placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

fn to_value(v: &V) -> Value {
    match v {
        V::I(i) => Value::Integer(*i),
        V::T(s) => Value::Text(s.clone()),
        V::B(b) => Value::Blob(b.clone()),
        V::NullI | V::NullT => Value::Null,
    }
}

impl Sql for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64, ServerError> {
        let mut st = self.conn.prepare_cached(&placeholders(sql))?;
        let n = st.execute(rusqlite::params_from_iter(params.iter().map(to_value)))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>, ServerError> {
        let mut st = self.conn.prepare_cached(&placeholders(sql))?;
        let cols = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter().map(to_value)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(cols);
            for i in 0..cols {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => V::NullT,
                    ValueRef::Integer(v) => V::I(v),
                    ValueRef::Real(v) => V::I(v as i64),
                    ValueRef::Text(t) => V::T(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => V::B(b.to_vec()),
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn lock_changes(&mut self) -> Result<(), ServerError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 database (as the server before migrations wrote it) is upgraded in place: nothing
    /// evidential is lost, a photo stored inside it is still served, unverified partial uploads go.
    #[test]
    fn a_version_1_database_is_migrated_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&super::super::schema::sqlite()).unwrap();
            c.execute_batch(
                "INSERT INTO meta VALUES ('schema_version', '1');
                 INSERT INTO blobs (sha256, mime, total, received, data, complete, device_id, created_at_ms)
                   VALUES ('aa', 'image/jpeg', 3, 3, x'010203', 1, 'd', 0),
                          ('bb', 'image/jpeg', 9, 3, x'010203', 0, 'd', 0);
                 INSERT INTO forks (device_id, seq, stored_hash, record_json, received_at_ms)
                   VALUES ('d', 1, x'00', x'7b7d', 0);",
            )
            .unwrap();
        }
        let db = SqliteDb::open(&path).unwrap();
        let rows = db
            .tx(|tx| {
                let v = tx.one("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
                let blobs = tx.query(
                    "SELECT sha256, location, data FROM blobs ORDER BY sha256",
                    &[],
                )?;
                let forks = tx.query("SELECT record_hash FROM forks", &[])?;
                Ok((v, blobs, forks))
            })
            .unwrap();
        assert_eq!(
            rows.0.unwrap()[0],
            V::T(super::super::schema::VERSION.to_string())
        );
        assert_eq!(
            rows.1,
            vec![vec![
                V::T("aa".into()),
                V::T("db".into()),
                V::B(vec![1, 2, 3])
            ]]
        );
        assert_eq!(rows.2.len(), 1, "fork evidence is kept");
        drop(db);
        // Opening again is a no-op.
        SqliteDb::open(&path).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused_not_downgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        SqliteDb::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
        assert!(SqliteDb::open(&path).is_err());
    }
}
