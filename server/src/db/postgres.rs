//! The PostgreSQL backend: a maintained pool (deadpool-postgres) of tokio-postgres connections, driven
//! from the blocking thread that runs a transaction (the connections' I/O tasks stay on the runtime).
//!
//! The pool heals: a connection the database closed (restart, `pg_terminate_backend`, network loss) is
//! discarded when it is handed back or checked out, and a new one is made on demand. Every wait is
//! bounded — getting a connection, connecting, and each statement — so while PostgreSQL is down requests
//! fail fast with 503 instead of hanging, and succeed again as soon as it is back.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::runtime::Handle;
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql, Type};

use super::{Row, Sql, V};
use crate::error::ServerError;

/// Longest wait for a pooled connection or a new one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a single statement may take before its connection is discarded and the request fails.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A PostgreSQL database reached through a pool of connections.
pub struct PgDb {
    pool: Pool,
    handle: Handle,
}

fn pg(e: &tokio_postgres::Error) -> ServerError {
    // The server's message can quote values; keep the SQLSTATE only.
    ServerError::Database(e.code().map_or_else(
        || "database unavailable".to_owned(),
        |c| format!("sqlstate {}", c.code()),
    ))
}

fn unavailable() -> ServerError {
    ServerError::Database("database unavailable".into())
}

impl PgDb {
    /// Builds a pool of at most `size` connections to `url` and creates or migrates the schema.
    pub async fn connect(url: &str, size: usize) -> Result<Self, ServerError> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|_| ServerError::Internal("invalid PostgreSQL URL".into()))?;
        cfg.connect_timeout(CONNECT_TIMEOUT);
        cfg.keepalives(true);
        cfg.keepalives_idle(Duration::from_secs(30));
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                // `Fast` discards connections whose socket closed; statement timeouts catch the rest.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|_| ServerError::Internal("cannot build the PostgreSQL pool".into()))?;
        let db = PgDb {
            pool,
            handle: Handle::current(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Creates the version-1 tables and applies pending migrations, serialised between server
    /// instances starting at once by an advisory lock.
    async fn migrate(&self) -> Result<(), ServerError> {
        let client = self.pool.get().await.map_err(|_| unavailable())?;
        client
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(74101); {} INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;",
                super::schema::postgres(),
            ))
            .await
            .map_err(|e| pg(&e))?;
        let result = async {
            let row = client
                .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
                .await
                .map_err(|e| pg(&e))?;
            let current: i64 = row
                .get::<_, String>(0)
                .parse()
                .map_err(|_| ServerError::Internal("schema version is not a number".into()))?;
            for (version, ddl) in super::schema::pending(current)? {
                client
                    .batch_execute(&format!(
                        "BEGIN; {} UPDATE meta SET value = '{version}' WHERE key = 'schema_version'; COMMIT;",
                        super::schema::postgres_ddl(ddl)
                    ))
                    .await
                    .map_err(|e| pg(&e))?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        let _ = client
            .batch_execute("SELECT pg_advisory_unlock(74101)")
            .await;
        result
    }

    /// Connections open and idle, for health reports.
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }

    /// Runs `f` in one transaction (must be called on a blocking thread).
    pub fn tx<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let client = self
            .handle
            .block_on(self.pool.get())
            .map_err(|_| unavailable())?;
        let mut tx = PgTx {
            client: Some(client),
            handle: &self.handle,
        };

        (|| {
            tx.batch("BEGIN")?;
            match f(&mut tx) {
                Ok(v) => {
                    tx.batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = tx.batch("ROLLBACK");
                    Err(e)
                }
            }
        })()
    }
}

struct PgTx<'a> {
    /// `None` once the connection was discarded (timed out or broken).
    client: Option<Object>,
    handle: &'a Handle,
}

impl PgTx<'_> {
    /// Runs one statement with the statement timeout; a connection that timed out or broke is taken
    /// out of the pool (its state is unknown) and the transaction fails.
    fn run<R>(
        &mut self,
        call: impl AsyncFnOnce(&Object) -> Result<R, tokio_postgres::Error>,
    ) -> Result<R, ServerError> {
        let (out, closed) = {
            let client = self.client.as_ref().ok_or_else(unavailable)?;
            let out = self
                .handle
                .block_on(tokio::time::timeout(STATEMENT_TIMEOUT, call(client)));
            (out, client.is_closed())
        };
        match out {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                if closed {
                    self.discard();
                }
                Err(pg(&e))
            }
            Err(_) => {
                self.discard();
                Err(ServerError::Database("database statement timed out".into()))
            }
        }
    }

    fn discard(&mut self) {
        if let Some(c) = self.client.take() {
            drop(Object::take(c));
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), ServerError> {
        self.run(async |c| c.batch_execute(sql).await)
    }
}

fn params(p: &[V]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    p.iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                V::I(i) => Box::new(*i),
                V::T(s) => Box::new(s.clone()),
                V::B(b) => Box::new(b.clone()),
                V::NullI => Box::new(None::<i64>),
                V::NullT => Box::new(None::<String>),
            }
        })
        .collect()
}

fn convert(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, ServerError> {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    let ty = r.columns()[i].type_();
                    let v = if *ty == Type::INT8 {
                        r.try_get::<_, Option<i64>>(i)
                            .map(|o| o.map_or(V::NullI, V::I))
                    } else if *ty == Type::INT4 {
                        r.try_get::<_, Option<i32>>(i)
                            .map(|o| o.map_or(V::NullI, |x| V::I(i64::from(x))))
                    } else if *ty == Type::BYTEA {
                        r.try_get::<_, Option<Vec<u8>>>(i)
                            .map(|o| o.map_or(V::NullT, V::B))
                    } else {
                        r.try_get::<_, Option<String>>(i)
                            .map(|o| o.map_or(V::NullT, V::T))
                    };
                    v.map_err(|e| pg(&e))
                })
                .collect()
        })
        .collect()
}

impl Sql for PgTx<'_> {
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, ServerError> {
        let boxed = params(p);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.run(async |c| c.execute(sql, &refs).await)
    }

    fn query(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, ServerError> {
        let boxed = params(p);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self.run(async |c| c.query(sql, &refs).await)?;
        convert(&rows)
    }

    fn lock_changes(&mut self) -> Result<(), ServerError> {
        self.batch("LOCK TABLE changes IN SHARE ROW EXCLUSIVE MODE")
    }
}
