//! One query layer over two databases: SQLite (a file in the data directory, nothing to install) and
//! PostgreSQL (production, several stateless server instances on one database).
//!
//! All server logic is written once against the small synchronous [`Sql`] trait, with `$1, $2 …`
//! placeholders and portable SQL; each backend runs it inside one transaction on a blocking thread
//! ([`Db::tx`]). Concurrency control is portable too: a device's chain head moves with a conditional
//! `UPDATE … WHERE acked_seq = old`, so two concurrent uploads of one device can never both win.

pub mod postgres;
pub mod schema;
pub mod sqlite;

use std::sync::Arc;

use crate::error::ServerError;

/// A SQL value: the only four types the schema uses (integers, text, bytes, null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    /// 64-bit integer.
    I(i64),
    /// Text.
    T(String),
    /// Bytes.
    B(Vec<u8>),
    /// NULL of an integer column.
    NullI,
    /// NULL of a text column.
    NullT,
}

impl V {
    /// The integer, or an error if the column is not one.
    pub fn i(&self) -> Result<i64, ServerError> {
        match self {
            V::I(v) => Ok(*v),
            _ => Err(ServerError::Internal("expected an integer column".into())),
        }
    }
    /// The integer or `None` for NULL.
    pub fn opt_i(&self) -> Result<Option<i64>, ServerError> {
        match self {
            V::NullI | V::NullT => Ok(None),
            v => v.i().map(Some),
        }
    }
    /// The text, or an error.
    pub fn t(&self) -> Result<String, ServerError> {
        match self {
            V::T(v) => Ok(v.clone()),
            _ => Err(ServerError::Internal("expected a text column".into())),
        }
    }
    /// The text or `None` for NULL.
    pub fn opt_t(&self) -> Result<Option<String>, ServerError> {
        match self {
            V::NullI | V::NullT => Ok(None),
            v => v.t().map(Some),
        }
    }
    /// The bytes, or an error.
    pub fn b(&self) -> Result<Vec<u8>, ServerError> {
        match self {
            V::B(v) => Ok(v.clone()),
            _ => Err(ServerError::Internal("expected a bytes column".into())),
        }
    }
    /// Text or NULL.
    pub fn opt_text(v: Option<&str>) -> V {
        v.map_or(V::NullT, |s| V::T(s.to_owned()))
    }
}

/// One result row.
pub type Row = Vec<V>;

/// A transaction on either backend.
pub trait Sql {
    /// Executes a statement, returning the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64, ServerError>;
    /// Runs a query.
    fn query(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>, ServerError>;
    /// Serialises writers of the changes feed so cursors become visible in order (PostgreSQL needs an
    /// explicit lock; SQLite transactions are already serialised).
    fn lock_changes(&mut self) -> Result<(), ServerError>;

    /// The first row, if any.
    fn one(&mut self, sql: &str, params: &[V]) -> Result<Option<Row>, ServerError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// The server database.
#[derive(Clone)]
pub enum Db {
    /// SQLite file.
    Sqlite(Arc<sqlite::SqliteDb>),
    /// PostgreSQL.
    Postgres(Arc<postgres::PgDb>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "Db::Sqlite",
            Db::Postgres(_) => "Db::Postgres",
        })
    }
}

impl Db {
    /// Opens `spec`: a `postgres://` / `postgresql://` URL, or a path to a SQLite file.
    pub async fn open(spec: &str) -> Result<Db, ServerError> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Ok(Db::Postgres(Arc::new(
                postgres::PgDb::connect(spec, 16).await?,
            )))
        } else {
            let path = std::path::PathBuf::from(spec);
            let db = tokio::task::spawn_blocking(move || sqlite::SqliteDb::open(&path))
                .await
                .map_err(|_| ServerError::Internal("database open task failed".into()))??;
            Ok(Db::Sqlite(Arc::new(db)))
        }
    }

    /// Runs `f` in one transaction on a blocking thread: committed if it returns `Ok`.
    pub async fn tx<T, F>(&self, f: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, ServerError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || match db {
            Db::Sqlite(s) => s.tx(f),
            Db::Postgres(p) => p.tx(f),
        })
        .await
        .map_err(|_| ServerError::Internal("database task failed".into()))?
    }

    /// Name of the backend, for logs and benchmarks.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The connection pool's open and idle connections (PostgreSQL; SQLite has one connection and no
    /// pool: `None`).
    pub fn pool_status(&self) -> Option<(usize, usize)> {
        match self {
            Db::Sqlite(_) => None,
            Db::Postgres(p) => Some(p.pool_status()),
        }
    }
}
