//! The PostgreSQL backend: a small pool of tokio-postgres connections, driven from the blocking
//! thread that runs a transaction (the connections' I/O tasks stay on the runtime).

use std::sync::{Condvar, Mutex};

use tokio::runtime::Handle;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::{Row, Sql, V};
use crate::error::ServerError;

/// A PostgreSQL database reached through a pool of connections.
pub struct PgDb {
    pool: Mutex<Vec<Client>>,
    available: Condvar,
    handle: Handle,
}

fn pg(e: &tokio_postgres::Error) -> ServerError {
    // The server's message can quote values; keep the SQLSTATE only.
    ServerError::Database(e.code().map_or_else(
        || "connection failed".to_owned(),
        |c| format!("sqlstate {}", c.code()),
    ))
}

impl PgDb {
    /// Connects `size` connections to `url` and creates the schema.
    pub async fn connect(url: &str, size: usize) -> Result<Self, ServerError> {
        let mut pool = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let (client, conn) = tokio_postgres::connect(url, NoTls)
                .await
                .map_err(|e| pg(&e))?;
            tokio::spawn(async move {
                // The connection ends when its client is dropped; errors surface on the client.
                let _ = conn.await;
            });
            pool.push(client);
        }
        // Several server instances may start at once: serialise schema creation.
        let first = &pool[0];
        first
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(74101); {} INSERT INTO meta (key, value) VALUES ('schema_version', '{}') ON CONFLICT (key) DO NOTHING; SELECT pg_advisory_unlock(74101);",
                super::schema::postgres(),
                super::schema::VERSION
            ))
            .await
            .map_err(|e| pg(&e))?;
        Ok(PgDb {
            pool: Mutex::new(pool),
            available: Condvar::new(),
            handle: Handle::current(),
        })
    }

    fn take(&self) -> Client {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(c) = pool.pop() {
                return c;
            }
            pool = self
                .available
                .wait(pool)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn give(&self, c: Client) {
        if !c.is_closed() {
            self.pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(c);
            self.available.notify_one();
        }
    }

    /// Runs `f` in one transaction (must be called on a blocking thread).
    pub fn tx<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let client = self.take();
        let mut tx = PgTx {
            client,
            handle: &self.handle,
        };
        let out = (|| {
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
        })();
        self.give(tx.client);
        out
    }
}

struct PgTx<'a> {
    client: Client,
    handle: &'a Handle,
}

impl PgTx<'_> {
    fn batch(&mut self, sql: &str) -> Result<(), ServerError> {
        self.handle
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| pg(&e))
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

impl Sql for PgTx<'_> {
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, ServerError> {
        let boxed = params(p);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.handle
            .block_on(self.client.execute(sql, &refs))
            .map_err(|e| pg(&e))
    }

    fn query(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, ServerError> {
        let boxed = params(p);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .handle
            .block_on(self.client.query(sql, &refs))
            .map_err(|e| pg(&e))?;
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

    fn lock_changes(&mut self) -> Result<(), ServerError> {
        self.batch("LOCK TABLE changes IN SHARE ROW EXCLUSIVE MODE")
    }
}
