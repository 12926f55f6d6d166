//! The PostgreSQL backend: one pool for reads and writes; row locks do the queueing.
//! Registrations go through the store's batch writer (group commit, `sql.rs`), which has a
//! connection of its own.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::sql::{REGISTRAR_STATEMENT_CACHE, Registrar};

pub struct PgStore {
    pool: PgPool,
    /// The batch writer's one connection, opened on first use: registrations never wait
    /// behind reads for a pool connection, and its statement cache holds the multi-row
    /// statements (one text per row count) without evicting everyone else's.
    registrar_pool: PgPool,
    registrar: Registrar,
}

impl PgStore {
    const MIGRATOR: &'static sqlx::migrate::Migrator = &sqlx::migrate!("../../migrations/postgres");
    /// The batch writer keeps its own connection between batches: nobody else uses it, and
    /// taking it from the pool costs two round trips (sqlx tests a connection when it is
    /// taken and when it is given back). A failed batch gives it back, so it is tested then.
    const HOLD_REGISTRAR_CONNECTION: bool = true;

    pub async fn connect(url: &str) -> crate::Result<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// For tests and multi-tenant setups: connect with explicit options (e.g. a search_path).
    pub async fn connect_with(options: PgConnectOptions) -> crate::Result<Self> {
        let registrar_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.clone().statement_cache_capacity(REGISTRAR_STATEMENT_CACHE));
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        Ok(PgStore { pool, registrar_pool, registrar: Registrar::new() })
    }

    /// Whether concurrent `register_appeal` calls share transactions (group commit; on by
    /// default). Off, each registration is its own transaction on the shared pool, as before
    /// group commit: for comparison in benchmarks.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.registrar.set_group_commit(on);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    pub(crate) fn registrar_pool(&self) -> &PgPool {
        &self.registrar_pool
    }
}

#[cfg(test)]
impl PgStore {
    /// A migrated store on a fresh schema of `KONTAKT_TEST_PG_URL`; `None` without it.
    #[allow(clippy::unwrap_used)]
    pub(crate) async fn scratch() -> Option<(Self, crate::sql::Scratch)> {
        use crate::Store as _;
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let url = std::env::var("KONTAKT_TEST_PG_URL").ok()?;
        let schema = format!(
            "kt_unit_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let admin = PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options =
            PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
        let store = Self::connect_with(options).await.unwrap();
        store.migrate().await.unwrap();
        Some((store, crate::sql::Scratch::Schema { url, schema }))
    }
}

crate::sql::sql_store!(PgStore, Postgres, Backend::Postgres);
