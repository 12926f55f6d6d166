//! Store errors: what went wrong in domain terms, never SQL text for the user.

/// Every way a store call can fail. The web layer maps each to a status and a stable code;
/// `Backend` is the only one that becomes a 5xx, and its text is logged, not shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A uniqueness rule was broken (a username taken, a code used twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row names another that does not exist (an unknown executor, category, applicant).
    #[error("reference to a missing {0}")]
    MissingReference(String),
    /// Someone changed the row since it was read (optimistic concurrency).
    #[error("{what} was changed by someone else; reload and retry")]
    Stale { what: &'static str },
    /// A stored value the domain does not recognise: the database was edited by hand or by a
    /// newer Kontakt.
    #[error("stored data is not understood: {0}")]
    Corrupt(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("database error: {0}")]
    Backend(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound { what: "row" },
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict(constraint_label(db.as_ref())),
                ErrorKind::ForeignKeyViolation => {
                    StoreError::MissingReference(constraint_label(db.as_ref()))
                }
                _ => StoreError::Backend(e),
            },
            _ => StoreError::Backend(e),
        }
    }
}

/// A short, SQL-free description of the violated constraint. PostgreSQL names it; SQLite
/// only says which columns, inside its message ("UNIQUE constraint failed: users.username").
fn constraint_label(db: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(name) = db.constraint() {
        return name.to_string();
    }
    let msg = db.message();
    match msg.split_once("failed: ") {
        Some((_, cols)) => cols.to_string(),
        None => "constraint".to_string(),
    }
}

pub(crate) fn corrupt(column: &str, value: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column} = {value:?}: {why}"))
}
