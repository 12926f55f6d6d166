//! The one implementation of `Store`, instantiated for SQLite and for PostgreSQL.
//!
//! Why a macro and not generics: sqlx code generic over `Database` needs a where-clause per
//! bound type and per executor lifetime, which buries the SQL. The statements here are plain
//! ANSI that both dialects accept (`$N` placeholders, `RETURNING`, `ON CONFLICT`, `substr`,
//! `length`); a backend only provides `reader()`, `writer()` and `MIGRATOR`.

/// Timeline entry kinds, stored as text.
pub(crate) const TL_REGISTERED: &str = "registered";
pub(crate) const TL_ASSIGNED: &str = "assigned";
pub(crate) const TL_TRANSITION: &str = "transition";
pub(crate) const TL_DEADLINE_EXTENDED: &str = "deadline_extended";

/// Registration numbers have six digits (`YYYY-NNNNNN`).
pub(crate) const MAX_REG_SEQ: u32 = 999_999;

/// Lower-cased "last first patronymic": SQLite's `lower()` folds ASCII only, so the search
/// column is computed here, where Unicode case folding is right for Cyrillic names.
pub(crate) fn search_name(
    last: Option<&str>,
    first: Option<&str>,
    patronymic: Option<&str>,
) -> String {
    [last, first, patronymic].into_iter().flatten().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Escapes LIKE wildcards so user text matches literally (used with `ESCAPE '\'`).
pub(crate) fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One timeline row to append (see `TimelineEntry` for the fields' meaning).
pub(crate) struct TimelineWrite<'a> {
    pub(crate) appeal_id: i64,
    pub(crate) question_id: Option<i64>,
    pub(crate) assignment_id: Option<i64>,
    pub(crate) actor: crate::model::Actor,
    pub(crate) kind: &'a str,
    pub(crate) from_state: Option<&'a str>,
    pub(crate) to_state: Option<&'a str>,
    pub(crate) result: Option<&'a str>,
    pub(crate) public_text: Option<&'a str>,
    pub(crate) private_text: Option<&'a str>,
    pub(crate) at: chrono::DateTime<chrono::Utc>,
}

macro_rules! sql_store {
    ($store:ty, $db:ty, $backend:expr) => {
        use chrono::{DateTime, Utc};
        use kontakt_appeals::{Category, RegNo};
        use sqlx::QueryBuilder;

        use crate::error::{Result, StoreError};
        use crate::model::*;
        use crate::rows::*;
        use crate::sql::*;
        use crate::{Backend, Store, StoreFuture};

        impl $store {
            async fn load_appeals(&self, rows: Vec<AppealRow>) -> Result<Vec<Appeal>> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = rows.iter().map(AppealRow::id).collect();
                let mut qb = QueryBuilder::<$db>::new(format!(
                    "SELECT {QUESTION_COLUMNS} FROM questions q WHERE q.appeal_id IN ("
                ));
                let mut sep = qb.separated(", ");
                for id in &ids {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY q.appeal_id, q.position");
                let qrows: Vec<QuestionRow> =
                    qb.build_query_as().fetch_all(self.reader()).await?;

                let mut qb = QueryBuilder::<$db>::new(format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments s \
                     JOIN questions q ON q.id = s.question_id WHERE q.appeal_id IN ("
                ));
                let mut sep = qb.separated(", ");
                for id in &ids {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY s.id");
                let arows: Vec<AssignmentRow> =
                    qb.build_query_as().fetch_all(self.reader()).await?;
                let mut assignments: Vec<Assignment> =
                    arows.into_iter().map(AssignmentRow::into_assignment).collect::<Result<_>>()?;

                let mut questions: Vec<(i64, Question)> = Vec::with_capacity(qrows.len());
                for q in qrows {
                    let appeal_id = q.appeal_id();
                    let qid = q.id();
                    let (mine, rest): (Vec<_>, Vec<_>) =
                        assignments.into_iter().partition(|a| a.question_id == qid);
                    assignments = rest;
                    questions.push((appeal_id, q.into_question(mine)?));
                }
                rows.into_iter()
                    .map(|r| {
                        let id = r.id();
                        let (mine, rest): (Vec<_>, Vec<_>) =
                            std::mem::take(&mut questions).into_iter().partition(|(a, _)| *a == id);
                        questions = rest;
                        r.into_appeal(mine.into_iter().map(|(_, q)| q).collect())
                    })
                    .collect()
            }

            /// One appeal row looked up by id or number, with its questions and assignments.
            async fn load_one_appeal(&self, row: Option<AppealRow>) -> Result<Appeal> {
                let row = row.ok_or(StoreError::NotFound { what: "appeal" })?;
                self.load_appeals(vec![row])
                    .await?
                    .pop()
                    .ok_or(StoreError::NotFound { what: "appeal" })
            }

            async fn load_applicants(&self, rows: Vec<ApplicantRow>) -> Result<Vec<Applicant>> {
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let phones: Vec<(String,)> = sqlx::query_as(
                        "SELECT phone FROM applicant_phones WHERE applicant_id = $1 ORDER BY phone",
                    )
                    .bind(r.id())
                    .fetch_all(self.reader())
                    .await?;
                    out.push(r.into_applicant(phones.into_iter().map(|(p,)| p).collect())?);
                }
                Ok(out)
            }

            async fn insert_timeline(
                tx: &mut sqlx::Transaction<'_, $db>,
                w: TimelineWrite<'_>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO timeline (appeal_id, question_id, assignment_id, actor_user_id, \
                     actor_kind, kind, from_state, to_state, result, public_text, private_text, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(w.appeal_id)
                .bind(w.question_id)
                .bind(w.assignment_id)
                .bind(w.actor.user_id)
                .bind(w.actor.kind.as_str())
                .bind(w.kind)
                .bind(w.from_state)
                .bind(w.to_state)
                .bind(w.result)
                .bind(w.public_text)
                .bind(w.private_text)
                .bind(w.at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn insert_assignment(
                tx: &mut sqlx::Transaction<'_, $db>,
                appeal_id: i64,
                question_id: i64,
                assignment: &NewAssignment,
                actor: Actor,
                at: DateTime<Utc>,
            ) -> Result<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO assignments (question_id, executor_id, state, issued_at, due_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(question_id)
                .bind(assignment.executor_id)
                .bind(kontakt_appeals::AssignmentState::Registered.as_str())
                .bind(at)
                .bind(assignment.due_at)
                .fetch_one(&mut **tx)
                .await?;
                Self::insert_timeline(
                    tx,
                    TimelineWrite {
                        appeal_id,
                        question_id: Some(question_id),
                        assignment_id: Some(id),
                        actor,
                        kind: TL_ASSIGNED,
                        from_state: None,
                        to_state: Some(kontakt_appeals::AssignmentState::Registered.as_str()),
                        result: None,
                        public_text: None,
                        private_text: None,
                        at,
                    },
                )
                .await?;
                Ok(id)
            }
        }

        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            fn migrate(&self) -> StoreFuture<'_, usize> {
                Box::pin(async move {
                    let pending = self.pending_migrations().await?;
                    Self::MIGRATOR.run(self.writer()).await?;
                    Ok(pending)
                })
            }

            fn pending_migrations(&self) -> StoreFuture<'_, usize> {
                Box::pin(async move {
                    // Before the first migration the bookkeeping table does not exist yet.
                    let applied: Vec<(i64,)> =
                        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                            .fetch_all(self.reader())
                            .await
                            .unwrap_or_default();
                    Ok(Self::MIGRATOR
                        .iter()
                        .filter(|m| !applied.iter().any(|(v,)| *v == m.version))
                        .count())
                })
            }

            fn create_user(&self, user: NewUser, at: DateTime<Utc>) -> StoreFuture<'_, User> {
                Box::pin(async move {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO users (username, display_name, role, password_hash, \
                         executor_id, must_change_password, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(&user.username)
                    .bind(&user.display_name)
                    .bind(user.role.as_str())
                    .bind(&user.password_hash)
                    .bind(user.executor_id)
                    .bind(user.must_change_password)
                    .bind(at)
                    .fetch_one(self.writer())
                    .await?;
                    self.user(id).await
                })
            }

            fn user(&self, id: Id) -> StoreFuture<'_, User> {
                Box::pin(async move {
                    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
                    )))
                    .bind(id)
                    .fetch_optional(self.writer())
                    .await?;
                    row.ok_or(StoreError::NotFound { what: "user" })?.into_user()
                })
            }

            fn user_credentials<'a>(
                &'a self,
                username: &'a str,
            ) -> StoreFuture<'a, Option<UserCredentials>> {
                Box::pin(async move {
                    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"
                    )))
                    .bind(username)
                    .fetch_optional(self.reader())
                    .await?;
                    row.map(UserRow::into_credentials).transpose()
                })
            }

            fn users(&self) -> StoreFuture<'_, Vec<User>> {
                Box::pin(async move {
                    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"
                    )))
                    .fetch_all(self.reader())
                    .await?;
                    rows.into_iter().map(UserRow::into_user).collect()
                })
            }

            fn count_users(&self) -> StoreFuture<'_, i64> {
                Box::pin(async move {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(n)
                })
            }

            fn set_password(
                &self,
                id: Id,
                password_hash: String,
                must_change: bool,
            ) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE users SET password_hash = $1, must_change_password = $2 \
                         WHERE id = $3",
                    )
                    .bind(password_hash)
                    .bind(must_change)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound { what: "user" });
                    }
                    // A new password ends every open session of that user.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                })
            }

            fn create_session(
                &self,
                token_hash: String,
                user_id: Id,
                csrf_token: String,
                at: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, \
                         expires_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(token_hash)
                    .bind(user_id)
                    .bind(csrf_token)
                    .bind(at)
                    .bind(expires_at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                })
            }

            fn session<'a>(
                &'a self,
                token_hash: &'a str,
                now: DateTime<Utc>,
            ) -> StoreFuture<'a, Option<Session>> {
                Box::pin(async move {
                    let row: Option<(String, DateTime<Utc>, i64)> = sqlx::query_as(
                        "SELECT csrf_token, expires_at, user_id FROM sessions \
                         WHERE token_hash = $1 AND expires_at > $2",
                    )
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(self.reader())
                    .await?;
                    let Some((csrf_token, expires_at, user_id)) = row else {
                        return Ok(None);
                    };
                    let user = self.user(user_id).await?;
                    Ok(Some(Session { user, csrf_token, expires_at }))
                })
            }

            fn delete_session<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, ()> {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                        .bind(token_hash)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                })
            }

            fn create_api_token(
                &self,
                user_id: Id,
                name: String,
                token_hash: String,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, Id> {
                Box::pin(async move {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(user_id)
                    .bind(name)
                    .bind(token_hash)
                    .bind(at)
                    .fetch_one(self.writer())
                    .await?;
                    Ok(id)
                })
            }

            fn api_token_user<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<User>> {
                Box::pin(async move {
                    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {USER_COLUMNS} FROM users u JOIN api_tokens t ON t.user_id = u.id \
                         WHERE t.token_hash = $1"
                    )))
                    .bind(token_hash)
                    .fetch_optional(self.reader())
                    .await?;
                    row.map(UserRow::into_user).transpose()
                })
            }

            fn audit(&self, entry: NewAudit) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO audit_log (user_id, action, subject_kind, subject_id, detail, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(entry.user_id)
                    .bind(entry.action)
                    .bind(entry.subject_kind)
                    .bind(entry.subject_id)
                    .bind(entry.detail)
                    .bind(entry.at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                })
            }

            fn audit_log(&self, limit: i64) -> StoreFuture<'_, Vec<AuditRecord>> {
                Box::pin(async move {
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT id, user_id, action, subject_kind, subject_id, detail, created_at \
                         FROM audit_log ORDER BY id DESC LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(self.writer())
                    .await?;
                    Ok(rows.into_iter().map(AuditRecord::from).collect())
                })
            }

            fn upsert_category(&self, c: Category) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO categories (code, parent_code, name_uk, name_en, \
                         is_emergency, severity, sla_hours, attention_pct, legal_track, \
                         attribute_schema, is_leaf, active) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                         ON CONFLICT (code) DO UPDATE SET parent_code = excluded.parent_code, \
                         name_uk = excluded.name_uk, name_en = excluded.name_en, \
                         is_emergency = excluded.is_emergency, severity = excluded.severity, \
                         sla_hours = excluded.sla_hours, attention_pct = excluded.attention_pct, \
                         legal_track = excluded.legal_track, \
                         attribute_schema = excluded.attribute_schema, \
                         is_leaf = excluded.is_leaf, active = excluded.active",
                    )
                    .bind(&c.code)
                    .bind(&c.parent_code)
                    .bind(&c.name_uk)
                    .bind(&c.name_en)
                    .bind(c.is_emergency)
                    .bind(c.severity.as_str())
                    .bind(c.sla_hours.map(i64::from))
                    .bind(i64::from(c.attention_pct))
                    .bind(c.legal_track.as_str())
                    .bind(to_json(&c.attribute_schema))
                    .bind(c.is_leaf)
                    .bind(c.active)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                })
            }

            fn categories(&self) -> StoreFuture<'_, Vec<Category>> {
                Box::pin(async move {
                    let rows: Vec<CategoryRow> =
                        sqlx::query_as("SELECT * FROM categories ORDER BY code")
                            .fetch_all(self.reader())
                            .await?;
                    rows.into_iter().map(CategoryRow::into_category).collect()
                })
            }

            fn category<'a>(&'a self, code: &'a str) -> StoreFuture<'a, Option<Category>> {
                Box::pin(async move {
                    let row: Option<CategoryRow> =
                        sqlx::query_as("SELECT * FROM categories WHERE code = $1")
                            .bind(code)
                            .fetch_optional(self.reader())
                            .await?;
                    row.map(CategoryRow::into_category).transpose()
                })
            }

            fn create_executor(
                &self,
                e: NewExecutor,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, Executor> {
                Box::pin(async move {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO executors (code, name_uk, name_en, phone, created_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(e.code)
                    .bind(e.name_uk)
                    .bind(e.name_en)
                    .bind(e.phone)
                    .bind(at)
                    .fetch_one(self.writer())
                    .await?;
                    self.executor(id).await
                })
            }

            fn executors(&self) -> StoreFuture<'_, Vec<Executor>> {
                Box::pin(async move {
                    let rows: Vec<ExecutorRow> = sqlx::query_as(
                        "SELECT id, code, name_uk, name_en, phone, active FROM executors \
                         ORDER BY code",
                    )
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.into_iter().map(Executor::from).collect())
                })
            }

            fn executor(&self, id: Id) -> StoreFuture<'_, Executor> {
                Box::pin(async move {
                    let row: Option<ExecutorRow> = sqlx::query_as(
                        "SELECT id, code, name_uk, name_en, phone, active FROM executors \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(self.writer())
                    .await?;
                    Ok(row.ok_or(StoreError::NotFound { what: "executor" })?.into())
                })
            }

            fn add_responsibility(
                &self,
                r: NewResponsibility,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, ResponsibilityLine> {
                Box::pin(async move {
                    let row: ResponsibilityRow = sqlx::query_as(
                        "INSERT INTO responsibilities (category_prefix, district, building_key, \
                         executor_id, valid_from, valid_to, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, category_prefix, \
                         district, building_key, executor_id, valid_from, valid_to",
                    )
                    .bind(r.category_prefix)
                    .bind(r.district)
                    .bind(r.building_key)
                    .bind(r.executor_id)
                    .bind(r.valid_from)
                    .bind(r.valid_to)
                    .bind(at)
                    .fetch_one(self.writer())
                    .await?;
                    Ok(row.into())
                })
            }

            fn responsibilities(&self) -> StoreFuture<'_, Vec<ResponsibilityLine>> {
                Box::pin(async move {
                    let rows: Vec<ResponsibilityRow> = sqlx::query_as(
                        "SELECT id, category_prefix, district, building_key, executor_id, \
                         valid_from, valid_to FROM responsibilities ORDER BY id",
                    )
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.into_iter().map(ResponsibilityLine::from).collect())
                })
            }

            fn responsibilities_for<'a>(
                &'a self,
                category_code: &'a str,
                at: DateTime<Utc>,
            ) -> StoreFuture<'a, Vec<ResponsibilityLine>> {
                Box::pin(async move {
                    // substr/length rather than LIKE: category codes contain '_', a wildcard.
                    let rows: Vec<ResponsibilityRow> = sqlx::query_as(
                        "SELECT id, category_prefix, district, building_key, executor_id, \
                         valid_from, valid_to FROM responsibilities \
                         WHERE substr($1, 1, length(category_prefix)) = category_prefix \
                         AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) \
                         ORDER BY id",
                    )
                    .bind(category_code)
                    .bind(at)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.into_iter().map(ResponsibilityLine::from).collect())
                })
            }

            fn create_applicant(
                &self,
                a: NewApplicant,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, Applicant> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    let addr = a.address.as_ref();
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO applicants (last_name, first_name, patronymic, search_name, \
                         email, kind, privileges, confidential, assurance, city, street, \
                         building, entrance, flat, floor, district, building_key, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                         $13, $14, $15, $16, $17, $18, $18) RETURNING id",
                    )
                    .bind(&a.last_name)
                    .bind(&a.first_name)
                    .bind(&a.patronymic)
                    .bind(search_name(
                        a.last_name.as_deref(),
                        a.first_name.as_deref(),
                        a.patronymic.as_deref(),
                    ))
                    .bind(&a.email)
                    .bind(a.kind.as_str())
                    .bind(to_json(&a.privileges))
                    .bind(a.confidential)
                    .bind(a.assurance.as_str())
                    .bind(addr.and_then(|x| x.city.clone()))
                    .bind(addr.map(|x| x.street.clone()))
                    .bind(addr.map(|x| x.building.clone()))
                    .bind(addr.and_then(|x| x.entrance.clone()))
                    .bind(addr.and_then(|x| x.flat.clone()))
                    .bind(addr.and_then(|x| x.floor.map(i64::from)))
                    .bind(addr.and_then(|x| x.district.clone()))
                    .bind(addr.map(|x| x.building_key()))
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                    for phone in &a.phones {
                        sqlx::query(
                            "INSERT INTO applicant_phones (phone, applicant_id) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(phone)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    self.applicant(id).await
                })
            }

            fn applicant(&self, id: Id) -> StoreFuture<'_, Applicant> {
                Box::pin(async move {
                    let row: Option<ApplicantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {APPLICANT_COLUMNS} FROM applicants a WHERE a.id = $1"
                    )))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                    let row = row.ok_or(StoreError::NotFound { what: "applicant" })?;
                    self.load_applicants(vec![row])
                        .await?
                        .pop()
                        .ok_or(StoreError::NotFound { what: "applicant" })
                })
            }

            fn find_applicants<'a>(
                &'a self,
                q: &'a ApplicantQuery,
            ) -> StoreFuture<'a, Vec<Applicant>> {
                Box::pin(async move {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {APPLICANT_COLUMNS} FROM applicants a WHERE 1 = 1"
                    ));
                    if let Some(phone) = &q.phone {
                        qb.push(
                            " AND a.id IN (SELECT applicant_id FROM applicant_phones WHERE phone = ",
                        );
                        qb.push_bind(phone.clone());
                        qb.push(")");
                    }
                    if let Some(name) = &q.name {
                        qb.push(" AND a.search_name LIKE ");
                        qb.push_bind(format!("%{}%", like_literal(&name.to_lowercase())));
                        qb.push(" ESCAPE '\\'");
                    }
                    if let Some(address) = &q.address {
                        qb.push(" AND a.building_key LIKE ");
                        qb.push_bind(format!("{}%", like_literal(address)));
                        qb.push(" ESCAPE '\\'");
                    }
                    qb.push(" ORDER BY a.id DESC LIMIT ");
                    qb.push_bind(q.limit);
                    let rows: Vec<ApplicantRow> =
                        qb.build_query_as().fetch_all(self.reader()).await?;
                    self.load_applicants(rows).await
                })
            }

            fn register_appeal(&self, a: NewAppeal) -> StoreFuture<'_, Appeal> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    let (appeal_id,): (i64,) = sqlx::query_as(
                        "INSERT INTO appeals (reg_year, applicant_id, channel, legal_kind, \
                         answer_channel, collective, call_id, operator_id, received_at, \
                         registered_at, legal_due_at, repeat_of) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                    )
                    .bind(i64::from(a.reg_year))
                    .bind(a.applicant_id)
                    .bind(a.channel.as_str())
                    .bind(a.legal_kind.as_str())
                    .bind(a.answer_channel.map(|c| c.as_str()))
                    .bind(a.collective)
                    .bind(&a.call_id)
                    .bind(a.operator_id)
                    .bind(a.received_at)
                    .bind(a.registered_at)
                    .bind(a.legal_due_at)
                    .bind(a.repeat_of)
                    .fetch_one(&mut *tx)
                    .await?;
                    Self::insert_timeline(
                        &mut tx,
                        TimelineWrite {
                            appeal_id,
                            question_id: None,
                            assignment_id: None,
                            actor: a.actor,
                            kind: TL_REGISTERED,
                            from_state: None,
                            to_state: None,
                            result: None,
                            public_text: None,
                            private_text: None,
                            at: a.registered_at,
                        },
                    )
                    .await?;
                    let mut questions = Vec::with_capacity(a.questions.len());
                    for (i, q) in a.questions.into_iter().enumerate() {
                        let position = i64::try_from(i + 1).unwrap_or(i64::MAX);
                        let addr = q.address.as_ref();
                        let em = q.emergency.as_ref();
                        let (question_id,): (i64,) = sqlx::query_as(
                            "INSERT INTO questions (appeal_id, position, category_code, \
                             description, attributes, city, street, building, entrance, flat, \
                             floor, district, building_key, lat, lon, object_ref, is_emergency, \
                             discovered_at, nature, severity, sla_due_at, attention_at, \
                             repeat_of, created_at, search_text) VALUES ($1, $2, $3, $4, $5, $6, \
                             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                             $21, $22, $23, $24, $25) RETURNING id",
                        )
                        .bind(appeal_id)
                        .bind(position)
                        .bind(&q.category_code)
                        .bind(&q.description)
                        .bind(to_json(&q.attributes))
                        .bind(addr.and_then(|x| x.city.clone()))
                        .bind(addr.map(|x| x.street.clone()))
                        .bind(addr.map(|x| x.building.clone()))
                        .bind(addr.and_then(|x| x.entrance.clone()))
                        .bind(addr.and_then(|x| x.flat.clone()))
                        .bind(addr.and_then(|x| x.floor.map(i64::from)))
                        .bind(addr.and_then(|x| x.district.clone()))
                        .bind(&q.building_key)
                        .bind(addr.and_then(|x| x.lat))
                        .bind(addr.and_then(|x| x.lon))
                        .bind(&q.object_ref)
                        .bind(em.is_some())
                        .bind(em.map(|e| e.discovered_at))
                        .bind(em.map(|e| e.nature.clone()))
                        .bind(q.severity.as_str())
                        .bind(q.sla_due_at)
                        .bind(q.attention_at)
                        .bind(q.repeat_of)
                        .bind(a.registered_at)
                        .bind(q.description.to_lowercase())
                        .fetch_one(&mut *tx)
                        .await?;
                        let mut assignments = Vec::new();
                        if let Some(assignment) = &q.assignment {
                            let id = Self::insert_assignment(
                                &mut tx,
                                appeal_id,
                                question_id,
                                assignment,
                                a.actor,
                                a.registered_at,
                            )
                            .await?;
                            assignments.push(Assignment {
                                id,
                                question_id,
                                executor_id: assignment.executor_id,
                                state: kontakt_appeals::AssignmentState::Registered,
                                result: None,
                                issued_at: a.registered_at,
                                accepted_at: None,
                                due_at: assignment.due_at,
                                closed_at: None,
                                rework_count: 0,
                                version: 0,
                            });
                        }
                        questions.push(Question {
                            id: question_id,
                            appeal_id,
                            position,
                            category_code: q.category_code,
                            description: q.description,
                            attributes: q.attributes,
                            address: q.address,
                            building_key: q.building_key,
                            object_ref: q.object_ref,
                            emergency: q.emergency,
                            severity: q.severity,
                            sla_due_at: q.sla_due_at,
                            attention_at: q.attention_at,
                            repeat_of: q.repeat_of,
                            created_at: a.registered_at,
                            assignments,
                        });
                    }
                    // Numbering comes last: the counter row stays locked until commit, so
                    // concurrent registrations queue only for these two statements, and a
                    // rolled-back registration leaves no gap.
                    let (seq,): (i64,) = sqlx::query_as(
                        "INSERT INTO reg_counters (year, last_seq) VALUES ($1, 1) \
                         ON CONFLICT (year) DO UPDATE SET last_seq = reg_counters.last_seq + 1 \
                         RETURNING last_seq",
                    )
                    .bind(i64::from(a.reg_year))
                    .fetch_one(&mut *tx)
                    .await?;
                    let seq = u32::try_from(seq)
                        .ok()
                        .filter(|s| (1..=MAX_REG_SEQ).contains(s))
                        .ok_or_else(|| {
                            StoreError::Conflict(format!(
                                "registration numbers of {} are used up",
                                a.reg_year
                            ))
                        })?;
                    let reg_no = RegNo { year: a.reg_year, seq };
                    sqlx::query("UPDATE appeals SET reg_seq = $1, reg_no = $2 WHERE id = $3")
                        .bind(i64::from(seq))
                        .bind(reg_no.to_string())
                        .bind(appeal_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    // Everything returned is what was just written: no read-back needed.
                    Ok(Appeal {
                        id: appeal_id,
                        reg_no,
                        applicant_id: a.applicant_id,
                        channel: a.channel,
                        legal_kind: a.legal_kind,
                        answer_channel: a.answer_channel,
                        collective: a.collective,
                        call_id: a.call_id,
                        operator_id: a.operator_id,
                        received_at: a.received_at,
                        registered_at: a.registered_at,
                        legal_due_at: a.legal_due_at,
                        extended_due_at: None,
                        extension_notice_sent_at: None,
                        repeat_of: a.repeat_of,
                        questions,
                    })
                })
            }

            fn appeal(&self, id: Id) -> StoreFuture<'_, Appeal> {
                Box::pin(async move {
                    let row: Option<AppealRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {APPEAL_COLUMNS} FROM appeals p WHERE p.id = $1"
                    )))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                    self.load_one_appeal(row).await
                })
            }

            fn appeal_by_reg_no(&self, reg_no: RegNo) -> StoreFuture<'_, Appeal> {
                Box::pin(async move {
                    let row: Option<AppealRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {APPEAL_COLUMNS} FROM appeals p WHERE p.reg_no = $1"
                    )))
                    .bind(reg_no.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                    self.load_one_appeal(row).await
                })
            }

            fn list_appeals<'a>(&'a self, f: &'a AppealFilter) -> StoreFuture<'a, Vec<Appeal>> {
                Box::pin(async move {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {APPEAL_COLUMNS} FROM appeals p WHERE 1 = 1"
                    ));
                    if let Some(id) = f.applicant_id {
                        qb.push(" AND p.applicant_id = ");
                        qb.push_bind(id);
                    }
                    if let Some(c) = f.channel {
                        qb.push(" AND p.channel = ");
                        qb.push_bind(c.as_str());
                    }
                    if let Some(t) = f.registered_from {
                        qb.push(" AND p.registered_at >= ");
                        qb.push_bind(t);
                    }
                    if let Some(t) = f.registered_to {
                        qb.push(" AND p.registered_at < ");
                        qb.push_bind(t);
                    }
                    if let Some(id) = f.before_id {
                        qb.push(" AND p.id < ");
                        qb.push_bind(id);
                    }
                    if f.category_prefix.is_some() || f.text.is_some() {
                        qb.push(" AND EXISTS (SELECT 1 FROM questions q WHERE q.appeal_id = p.id");
                        if let Some(prefix) = &f.category_prefix {
                            qb.push(" AND substr(q.category_code, 1, length(");
                            qb.push_bind(prefix.clone());
                            qb.push(")) = ");
                            qb.push_bind(prefix.clone());
                        }
                        if let Some(text) = &f.text {
                            // Case-insensitive, Cyrillic included: both sides folded in Rust.
                            qb.push(" AND q.search_text LIKE ");
                            qb.push_bind(format!("%{}%", like_literal(&text.to_lowercase())));
                            qb.push(" ESCAPE '\\'");
                        }
                        qb.push(")");
                    }
                    if f.executor_id.is_some() || f.state.is_some() {
                        qb.push(
                            " AND EXISTS (SELECT 1 FROM assignments s JOIN questions q \
                             ON q.id = s.question_id WHERE q.appeal_id = p.id",
                        );
                        if let Some(id) = f.executor_id {
                            qb.push(" AND s.executor_id = ");
                            qb.push_bind(id);
                        }
                        if let Some(state) = f.state {
                            qb.push(" AND s.state = ");
                            qb.push_bind(state.as_str());
                        }
                        qb.push(")");
                    }
                    qb.push(" ORDER BY p.id DESC LIMIT ");
                    qb.push_bind(f.limit);
                    let rows: Vec<AppealRow> = qb.build_query_as().fetch_all(self.reader()).await?;
                    self.load_appeals(rows).await
                })
            }

            fn count_appeals(&self) -> StoreFuture<'_, i64> {
                Box::pin(async move {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM appeals")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(n)
                })
            }

            fn assignment(&self, id: Id) -> StoreFuture<'_, (Assignment, Id)> {
                Box::pin(async move {
                    let row: Option<AssignmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments s WHERE s.id = $1"
                    )))
                    .bind(id)
                    .fetch_optional(self.writer())
                    .await?;
                    let a = row.ok_or(StoreError::NotFound { what: "assignment" })?.into_assignment()?;
                    let (appeal_id,): (i64,) =
                        sqlx::query_as("SELECT appeal_id FROM questions WHERE id = $1")
                            .bind(a.question_id)
                            .fetch_one(self.writer())
                            .await?;
                    Ok((a, appeal_id))
                })
            }

            fn add_assignment(
                &self,
                question_id: Id,
                assignment: NewAssignment,
                actor: Actor,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, Assignment> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    let appeal: Option<(i64,)> =
                        sqlx::query_as("SELECT appeal_id FROM questions WHERE id = $1")
                            .bind(question_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let (appeal_id,) = appeal.ok_or(StoreError::NotFound { what: "question" })?;
                    let id = Self::insert_assignment(
                        &mut tx,
                        appeal_id,
                        question_id,
                        &assignment,
                        actor,
                        at,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(self.assignment(id).await?.0)
                })
            }

            fn change_assignment(&self, c: AssignmentChange) -> StoreFuture<'_, Assignment> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    let before: Option<(String, i64, i64)> = sqlx::query_as(
                        "SELECT s.state, s.version, q.appeal_id FROM assignments s \
                         JOIN questions q ON q.id = s.question_id WHERE s.id = $1",
                    )
                    .bind(c.assignment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let (from, version, appeal_id) =
                        before.ok_or(StoreError::NotFound { what: "assignment" })?;
                    if version != c.expected_version {
                        return Err(StoreError::Stale { what: "assignment" });
                    }
                    let updated: Option<(i64,)> = sqlx::query_as(
                        "UPDATE assignments SET state = $1, result = $2, \
                         accepted_at = COALESCE($3, accepted_at), \
                         closed_at = COALESCE($4, closed_at), due_at = COALESCE($5, due_at), \
                         rework_count = rework_count + $6, version = version + 1 \
                         WHERE id = $7 AND version = $8 RETURNING question_id",
                    )
                    .bind(c.to.as_str())
                    .bind(c.result.map(|r| r.as_str()))
                    .bind(c.accepted_at)
                    .bind(c.closed_at)
                    .bind(c.due_at)
                    .bind(i64::from(c.rework_increment))
                    .bind(c.assignment_id)
                    .bind(c.expected_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    // Zero rows: a concurrent change won the race between our read and write
                    // (PostgreSQL re-checks the version after waiting for the row lock).
                    let (question_id,) = updated.ok_or(StoreError::Stale { what: "assignment" })?;
                    Self::insert_timeline(
                        &mut tx,
                        TimelineWrite {
                            appeal_id,
                            question_id: Some(question_id),
                            assignment_id: Some(c.assignment_id),
                            actor: c.actor,
                            kind: TL_TRANSITION,
                            from_state: Some(&from),
                            to_state: Some(c.to.as_str()),
                            result: c.result.map(|r| r.as_str()),
                            public_text: c.public_text.as_deref(),
                            private_text: c.private_text.as_deref(),
                            at: c.at,
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(self.assignment(c.assignment_id).await?.0)
                })
            }

            fn extend_deadline(
                &self,
                appeal_id: Id,
                extended_due_at: DateTime<Utc>,
                notice_sent_at: DateTime<Utc>,
                actor: Actor,
                at: DateTime<Utc>,
            ) -> StoreFuture<'_, Appeal> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE appeals SET extended_due_at = $1, extension_notice_sent_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(extended_due_at)
                    .bind(notice_sent_at)
                    .bind(appeal_id)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound { what: "appeal" });
                    }
                    let text = format!("extended to {}", extended_due_at.to_rfc3339());
                    Self::insert_timeline(
                        &mut tx,
                        TimelineWrite {
                            appeal_id,
                            question_id: None,
                            assignment_id: None,
                            actor,
                            kind: TL_DEADLINE_EXTENDED,
                            from_state: None,
                            to_state: None,
                            result: None,
                            public_text: Some(&text),
                            private_text: None,
                            at,
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    self.appeal(appeal_id).await
                })
            }

            fn timeline(&self, appeal_id: Id) -> StoreFuture<'_, Vec<TimelineEntry>> {
                Box::pin(async move {
                    let rows: Vec<TimelineRow> = sqlx::query_as(
                        "SELECT id, appeal_id, question_id, assignment_id, actor_user_id, \
                         actor_kind, kind, from_state, to_state, result, public_text, \
                         private_text, created_at FROM timeline WHERE appeal_id = $1 ORDER BY id",
                    )
                    .bind(appeal_id)
                    .fetch_all(self.reader())
                    .await?;
                    rows.into_iter().map(TimelineRow::into_entry).collect()
                })
            }

            fn prior_questions<'a>(
                &'a self,
                applicant_id: Option<Id>,
                building_key: Option<&'a str>,
                category_code: &'a str,
            ) -> StoreFuture<'a, Vec<PriorQuestion>> {
                Box::pin(async move {
                    if applicant_id.is_none() && building_key.is_none() {
                        return Ok(Vec::new());
                    }
                    // Each present criterion is one indexed lookup, joined by UNION. An OR,
                    // or a branch on a NULL parameter, lets the planners walk every question
                    // of the category: millions in a city's history.
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT q.appeal_id, q.id AS question_id, p.applicant_id, \
                         q.category_code, q.building_key, s.state, s.result, s.closed_at \
                         FROM questions q JOIN appeals p ON p.id = q.appeal_id \
                         LEFT JOIN assignments s ON s.id = \
                           (SELECT MIN(s2.id) FROM assignments s2 WHERE s2.question_id = q.id) \
                         WHERE q.id IN (",
                    );
                    if let Some(applicant_id) = applicant_id {
                        qb.push(
                            "SELECT q1.id FROM questions q1 WHERE q1.appeal_id IN \
                             (SELECT p1.id FROM appeals p1 WHERE p1.applicant_id = ",
                        );
                        qb.push_bind(applicant_id);
                        qb.push(") AND q1.category_code = ");
                        qb.push_bind(category_code);
                    }
                    if let Some(building_key) = building_key {
                        if applicant_id.is_some() {
                            qb.push(" UNION ");
                        }
                        qb.push("SELECT q2.id FROM questions q2 WHERE q2.building_key = ");
                        qb.push_bind(building_key);
                        qb.push(" AND q2.category_code = ");
                        qb.push_bind(category_code);
                    }
                    qb.push(") ORDER BY q.id DESC LIMIT 50");
                    let rows: Vec<PriorRow> = qb.build_query_as().fetch_all(self.reader()).await?;
                    rows.into_iter().map(PriorRow::into_prior).collect()
                })
            }
        }
    };
}

pub(crate) use sql_store;
