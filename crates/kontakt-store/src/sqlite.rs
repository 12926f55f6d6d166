//! The SQLite backend: one file, WAL, one writer connection and a few readers.
//!
//! SQLite allows one writer at a time; giving writes their own single-connection pool makes
//! them queue in Kontakt instead of failing with SQLITE_BUSY, and keeps the registration
//! counter gap-free without retry loops. Readers never block on the writer under WAL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    const MIGRATOR: &'static sqlx::migrate::Migrator = &sqlx::migrate!("../../migrations/sqlite");

    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`).
    pub async fn open(url: &str) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL loses at most the last transactions on power loss, never
            // consistency; FULL would cost an fsync per registration.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(false))
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

crate::sql::sql_store!(SqliteStore, Sqlite, Backend::Sqlite);
