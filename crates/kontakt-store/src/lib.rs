//! Narrow Store trait, its SQLite and PostgreSQL backends, and the contract suite both pass.
//!
//! The trait speaks the appeals domain (register an appeal, change an assignment), not tables.
//! Both backends share one implementation text (`sql.rs`), instantiated per database by a
//! macro, because almost every statement is the same in both dialects; what differs (DDL,
//! pool shape) lives in `sqlite.rs` and `pg.rs`. Queries are built at run time, not checked by
//! `query!` macros, so building Kontakt never needs a live database.

mod calls;
mod error;
mod model;
mod pg;
mod refcache;
mod rows;
mod sql;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kontakt_appeals::{Category, RegNo};

pub use calls::*;
pub use error::{Result, StoreError};
pub use model::*;
pub use pg::PgStore;
pub use refcache::REFERENCE_TTL;
pub use sqlite::SqliteStore;

/// A boxed future: the trait is used as `Arc<dyn Store>` because the backend is chosen from
/// the database URL at start-up.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything Kontakt keeps. Every method is one transaction: it either happens whole or not
/// at all, and a failure leaves what was stored unchanged.
pub trait Store: CallLog + Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Applies the embedded migrations that are not yet applied; returns how many ran.
    fn migrate(&self) -> StoreFuture<'_, usize>;
    /// Embedded migrations not yet applied to this database.
    fn pending_migrations(&self) -> StoreFuture<'_, usize>;

    // People and access.
    fn create_user(&self, user: NewUser, at: DateTime<Utc>) -> StoreFuture<'_, User>;
    fn user(&self, id: Id) -> StoreFuture<'_, User>;
    fn user_credentials<'a>(
        &'a self,
        username: &'a str,
    ) -> StoreFuture<'a, Option<UserCredentials>>;
    fn users(&self) -> StoreFuture<'_, Vec<User>>;
    fn count_users(&self) -> StoreFuture<'_, i64>;
    fn set_password(&self, id: Id, password_hash: String, must_change: bool)
    -> StoreFuture<'_, ()>;
    fn create_session(
        &self,
        token_hash: String,
        user_id: Id,
        csrf_token: String,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreFuture<'_, ()>;
    /// The live session with this token hash, if it has not expired at `now`.
    fn session<'a>(
        &'a self,
        token_hash: &'a str,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Option<Session>>;
    fn delete_session<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, ()>;
    fn create_api_token(
        &self,
        user_id: Id,
        name: String,
        token_hash: String,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, Id>;
    fn api_token_user<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<User>>;
    fn audit(&self, entry: NewAudit) -> StoreFuture<'_, ()>;
    fn audit_log(&self, limit: i64) -> StoreFuture<'_, Vec<AuditRecord>>;

    // Reference data.
    fn upsert_category(&self, category: Category) -> StoreFuture<'_, ()>;
    fn categories(&self) -> StoreFuture<'_, Vec<Category>>;
    fn category<'a>(&'a self, code: &'a str) -> StoreFuture<'a, Option<Category>>;
    fn create_executor(
        &self,
        executor: NewExecutor,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, Executor>;
    fn executors(&self) -> StoreFuture<'_, Vec<Executor>>;
    fn executor(&self, id: Id) -> StoreFuture<'_, Executor>;
    fn add_responsibility(
        &self,
        line: NewResponsibility,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, ResponsibilityLine>;
    fn responsibilities(&self) -> StoreFuture<'_, Vec<ResponsibilityLine>>;
    /// The lines whose category prefix covers `category_code` and which are valid at `at`.
    fn responsibilities_for<'a>(
        &'a self,
        category_code: &'a str,
        at: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<ResponsibilityLine>>;

    // Applicants.
    fn create_applicant(
        &self,
        applicant: NewApplicant,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, Applicant>;
    fn applicant(&self, id: Id) -> StoreFuture<'_, Applicant>;
    fn find_applicants<'a>(&'a self, query: &'a ApplicantQuery) -> StoreFuture<'a, Vec<Applicant>>;

    // Appeals.
    /// Gives the appeal the next registration number of its year (gap-free: the counter moves
    /// in the same transaction), writes it, its questions and assignments, and the timeline.
    fn register_appeal(&self, appeal: NewAppeal) -> StoreFuture<'_, Appeal>;
    fn appeal(&self, id: Id) -> StoreFuture<'_, Appeal>;
    fn appeal_by_reg_no(&self, reg_no: RegNo) -> StoreFuture<'_, Appeal>;
    fn list_appeals<'a>(&'a self, filter: &'a AppealFilter) -> StoreFuture<'a, Vec<Appeal>>;
    fn count_appeals(&self) -> StoreFuture<'_, i64>;
    /// The assignment and the appeal it belongs to.
    fn assignment(&self, id: Id) -> StoreFuture<'_, (Assignment, Id)>;
    fn add_assignment(
        &self,
        question_id: Id,
        assignment: NewAssignment,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, Assignment>;
    /// Applies a transition computed by the domain; `StoreError::Stale` if the assignment
    /// moved on since it was read.
    fn change_assignment(&self, change: AssignmentChange) -> StoreFuture<'_, Assignment>;
    fn extend_deadline(
        &self,
        appeal_id: Id,
        extended_due_at: DateTime<Utc>,
        notice_sent_at: DateTime<Utc>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, Appeal>;
    fn timeline(&self, appeal_id: Id) -> StoreFuture<'_, Vec<TimelineEntry>>;
    /// Earlier questions of this category by this applicant or at this building, newest first.
    fn prior_questions<'a>(
        &'a self,
        applicant_id: Option<Id>,
        building_key: Option<&'a str>,
        category_code: &'a str,
    ) -> StoreFuture<'a, Vec<PriorQuestion>>;

    // Outages.
    /// Writes the outage and its places.
    fn create_outage(&self, outage: NewOutage) -> StoreFuture<'_, Outage>;
    fn outage(&self, id: Id) -> StoreFuture<'_, Outage>;
    fn list_outages<'a>(&'a self, filter: &'a OutageFilter) -> StoreFuture<'a, Vec<Outage>>;
    /// Sets the outage's end. `StoreError::Conflict` if it has already ended: an end is
    /// recorded once, and a second one would rewrite when the service came back.
    fn end_outage(&self, id: Id, ended_at: DateTime<Utc>) -> StoreFuture<'_, Outage>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://…`.
/// Does not migrate: the caller decides (serve migrates, `check-config` only reports).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::InvalidUrl(format!(
            "it must start with sqlite:// or postgres://, got {:?}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
