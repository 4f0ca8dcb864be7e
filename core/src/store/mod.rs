//! The device's offline store: one SQLite file per app install.
//!
//! Opening applies forward migrations from [`schema`]. A file written by a newer build, or one that is not
//! a SQLite database, is a typed error and is left untouched: the store never wipes or resets data to
//! recover. WAL mode with `synchronous = NORMAL`: a killed process never loses a committed transaction;
//! a power cut may roll back the last few, which is why the sync client makes the WAL durable
//! ([`Store::checkpoint`]) before it uploads anything.

pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// File name of the database inside the app's data directory.
pub const DB_FILE: &str = "siap.db";

/// The device database. Cheap to share behind an `Arc`; calls are serialised on one connection.
///
/// Every reader waits on that connection's lock, so the closures given to [`Store::with_conn`] and
/// [`Store::with_tx`] should only run SQL: no signing (the ledger signs before it takes the lock), no
/// network, no waiting on other threads. Async code runs store calls on a blocking pool, not on its
/// executor (the sync client does).
pub struct Store {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify)?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// Opens the database `siap.db` inside `dir`, creating the directory if needed.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        Self::open(&dir.join(DB_FILE))
    }

    /// An in-memory database (tests and benchmarks).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // The first statement that reads the file tells a non-database apart from a database.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(classify)?;
        if version > schema::CURRENT_VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        if version < 0 {
            return Err(Error::CorruptDatabase(format!(
                "negative schema version {version}"
            )));
        }
        if path.is_some() {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(classify)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::CorruptDatabase(format!(
                    "cannot enable WAL (journal mode {mode})"
                )));
            }
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(classify)?;
        if version > 0 {
            // Catch damaged pages before trusting the file (cheap: quick_check skips index cross-checks).
            let ok: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(classify)?;
            if ok != "ok" {
                return Err(Error::CorruptDatabase("integrity check failed".into()));
            }
        }
        migrate(&mut conn, version)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Path of the database file (`None` for in-memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        #[cfg(test)]
        executor_guard::check();
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back on
        // drop), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with the connection (reads and single statements).
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.lock())
    }

    /// Runs `f` in one immediate transaction: committed if `f` returns `Ok`, rolled back otherwise.
    pub fn with_tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Makes every committed transaction durable on disk (WAL checkpoint, which syncs the file).
    pub fn checkpoint(&self) -> Result<()> {
        if self.path.is_some() {
            self.lock()
                .query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Reads a setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.with_conn(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    /// Writes a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }
}

fn migrate(conn: &mut Connection, from: i64) -> Result<()> {
    for (i, step) in schema::MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Tells "this is not a database / it is damaged" apart from ordinary failures.
fn classify(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            Error::CorruptDatabase(e.to_string())
        }
        _ => Error::Storage(e),
    }
}

/// Test-only tripwire for the sync client's rule that no store call runs on an async executor thread:
/// a test marks the thread that drives its runtime, and any store lock taken on it fails the test.
#[cfg(test)]
pub(crate) mod executor_guard {
    use std::cell::Cell;

    thread_local! {
        static FORBIDDEN: Cell<bool> = const { Cell::new(false) };
    }

    /// Clears the mark when the forbidden section ends, also by a panic.
    struct Unmark;

    impl Drop for Unmark {
        fn drop(&mut self) {
            FORBIDDEN.set(false);
        }
    }

    /// Runs `f` (which drives an async runtime on this thread) with the store forbidden on this thread.
    pub(crate) fn forbid_store_on_this_thread<T>(f: impl FnOnce() -> T) -> T {
        FORBIDDEN.set(true);
        let _unmark = Unmark;
        f()
    }

    /// Fails the test if the calling thread is marked.
    pub(super) fn check() {
        assert!(
            !FORBIDDEN.get(),
            "the store was used on an async executor thread"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQLite compiled in (`.cargo/config.toml`, `LIBSQLITE3_FLAGS`) cannot load extensions: nothing
    /// can get foreign code into the process through the evidence store.
    #[test]
    fn sqlite_is_built_without_extension_loading_or_unused_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_dir(dir.path()).unwrap();
        let options: Vec<String> = s
            .with_conn(|c| {
                let mut st = c.prepare("PRAGMA compile_options")?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<std::result::Result<Vec<String>, _>>()?)
            })
            .unwrap();
        assert!(
            options.iter().any(|o| o == "OMIT_LOAD_EXTENSION"),
            "{options:?}"
        );
        for unused in [
            "ENABLE_FTS3",
            "ENABLE_FTS5",
            "ENABLE_RTREE",
            "ENABLE_LOAD_EXTENSION",
        ] {
            assert!(
                !options.iter().any(|o| o == unused),
                "{unused} in {options:?}"
            );
        }
        let r = s.with_conn(|c| {
            Ok(c.query_row("SELECT load_extension('x')", [], |r| r.get::<_, i64>(0))?)
        });
        assert!(r.is_err());
    }

    #[test]
    fn fresh_database_has_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_dir(dir.path()).unwrap();
        let v: i64 = s
            .with_conn(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, schema::CURRENT_VERSION);
        drop(s);
        // Reopening is a no-op migration.
        Store::open_dir(dir.path()).unwrap();
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let s = Store::open(&path).unwrap();
            s.set_setting("k", "v").unwrap();
            s.with_conn(|c| Ok(c.pragma_update(None, "user_version", 99)?))
                .unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, Error::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        let c = Connection::open(&path).unwrap();
        let v: String = c
            .query_row("SELECT value FROM settings WHERE key='k'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "v");
    }

    #[test]
    fn garbage_file_is_corrupt_not_wiped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let junk = vec![0x5au8; 8192];
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, Error::CorruptDatabase(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn ledger_rows_cannot_be_updated_or_deleted() {
        let s = Store::open_in_memory().unwrap();
        s.with_conn(|c| {
            c.execute(
                "INSERT INTO ledger VALUES (1, zeroblob(32), 'k', x'00', zeroblob(32), x'00', 0)",
                [],
            )?;
            assert!(c.execute("UPDATE ledger SET kind = 'x'", []).is_err());
            assert!(c.execute("DELETE FROM ledger", []).is_err());
            Ok(())
        })
        .unwrap();
    }
}
