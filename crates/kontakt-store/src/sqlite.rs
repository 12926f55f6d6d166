//! The SQLite backend: one file, WAL, one writer connection and a few readers.
//!
//! SQLite allows one writer at a time; giving writes their own single-connection pool makes
//! them queue in Kontakt instead of failing with SQLITE_BUSY, and keeps the registration
//! counter gap-free without retry loops. Readers never block on the writer under WAL.
//! Registrations additionally go through the store's batch writer (group commit, `sql.rs`),
//! which takes the writer connection once per batch.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::refcache::{REFERENCE_TTL, RefCache};
use crate::sql::{REGISTRAR_STATEMENT_CACHE, Registrar};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    registrar: Registrar,
    reference: RefCache,
}

impl SqliteStore {
    const MIGRATOR: &'static sqlx::migrate::Migrator = &sqlx::migrate!("../../migrations/sqlite");
    /// The batch writer shares the one writer connection: it takes it per batch, so other
    /// writes get their turn between batches.
    const HOLD_REGISTRAR_CONNECTION: bool = false;

    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`).
    pub async fn open(url: &str) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL loses at most the last transactions on power loss, never
            // consistency; FULL would cost an fsync per registration.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // With a city's history (a million appeals and more) the indexes outgrow SQLite's
            // default 2 MiB page cache per connection, and every lookup becomes a chain of
            // read() calls. 64 MiB of cache and 1 GiB of memory-mapped file per connection
            // keep the hot pages in reach (mmap shares the OS page cache, it is not RSS on
            // top of it).
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "1073741824");
        // The writer also runs the batch writer's multi-row statements (one text per row
        // count): a larger statement cache keeps them prepared.
        // No test before each acquire: an in-process connection does not go stale the way a
        // socket does, and the test is one more trip to the connection's worker thread per
        // statement or transaction (sqlx tests it again when it is released anyway).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone().statement_cache_capacity(REGISTRAR_STATEMENT_CACHE))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(false))
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            registrar: Registrar::new(),
            reference: RefCache::new(REFERENCE_TTL),
        })
    }

    /// Whether concurrent `register_appeal` calls share transactions (group commit; on by
    /// default). Off, each registration is its own transaction, as before group commit: for
    /// comparison in benchmarks.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.registrar.set_group_commit(on);
        self
    }

    /// How long the category tree and the responsibility map are used from memory before
    /// they are read again ([`REFERENCE_TTL`] by default; see `refcache.rs`). Zero reads them
    /// for every registration.
    pub fn reference_ttl(mut self, ttl: Duration) -> Self {
        self.reference.set_ttl(ttl);
        self
    }

    pub(crate) fn reference(&self) -> &RefCache {
        &self.reference
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Where the batch writer writes: SQLite's one writer connection.
    pub(crate) fn registrar_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Writes a batch of registrations inside the batch writer's transaction: a few
    /// multi-row statements (SQLite runs in-process, so a statement costs no round trip).
    async fn insert_batch(
        conn: &mut sqlx::SqliteConnection,
        appeals: &[&crate::model::NewAppeal],
    ) -> Result<crate::sql::BatchIds, crate::sql::Together> {
        Self::insert_batch_statements(conn, appeals).await
    }
}

#[cfg(test)]
impl SqliteStore {
    /// A migrated store on a fresh file.
    #[allow(clippy::unwrap_used)]
    pub(crate) async fn scratch() -> Option<(Self, crate::sql::Scratch)> {
        use crate::Store as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Self::open(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        Some((store, crate::sql::Scratch::Dir(dir)))
    }
}

crate::sql::sql_store!(SqliteStore, Sqlite, Backend::Sqlite);
