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

// ---- group commit ----------------------------------------------------------------------

/// At most this many registrations share one transaction. Under load a batch is what queued
/// while the previous one was written, so the cap only bounds one transaction's size.
pub(crate) const MAX_BATCH: usize = 64;

/// Registrations waiting for the batch writer beyond this make callers wait to enqueue.
const QUEUE_DEPTH: usize = 4 * MAX_BATCH;

/// Rows per multi-row INSERT: far below both databases' bind-parameter limits (SQLite 32,766,
/// PostgreSQL 65,535) for the widest row (questions, 25 columns).
pub(crate) const ROWS_PER_INSERT: usize = 256;

/// Prepared statements SQLite's writer connection keeps. A multi-row INSERT has one text
/// per row count, so a batch writer cycles through up to a few hundred texts; sqlx's
/// default of 100 would evict and re-prepare them continually.
pub(crate) const REGISTRAR_STATEMENT_CACHE: usize = 512;

/// One registration waiting for the batch writer, and where its answer goes.
pub(crate) struct Pending {
    pub(crate) appeal: crate::model::NewAppeal,
    pub(crate) reply: tokio::sync::oneshot::Sender<crate::error::Result<crate::model::Appeal>>,
}

/// The per-store queue in front of the batch writer (group commit).
///
/// `register_appeal` callers queue their appeal and wait; one task per store takes
/// everything queued (up to `MAX_BATCH`) and writes it in one transaction. The task is
/// started by the first registration, in the caller's runtime, and started again if it is
/// gone (its runtime shut down): the queue never outlives what can drain it.
pub(crate) struct Registrar {
    group_commit: bool,
    queue: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<Pending>>>,
}

impl Registrar {
    pub(crate) fn new() -> Self {
        Registrar { group_commit: true, queue: std::sync::Mutex::new(None) }
    }

    pub(crate) fn group_commit(&self) -> bool {
        self.group_commit
    }

    pub(crate) fn set_group_commit(&mut self, on: bool) {
        self.group_commit = on;
    }

    /// The live queue, starting a writer (`spawn` gets its receiving end) if there is none.
    fn queue(
        &self,
        spawn: &impl Fn(tokio::sync::mpsc::Receiver<Pending>),
    ) -> tokio::sync::mpsc::Sender<Pending> {
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*queue {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (sender, receiver) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
                spawn(receiver);
                *queue = Some(sender.clone());
                sender
            }
        }
    }

    /// Queues one registration and waits for the batch writer's answer.
    pub(crate) async fn submit(
        &self,
        appeal: crate::model::NewAppeal,
        spawn: impl Fn(tokio::sync::mpsc::Receiver<Pending>),
    ) -> crate::error::Result<crate::model::Appeal> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let mut pending = Pending { appeal, reply };
        // A second try covers a writer that stopped between `queue()` and `send`.
        for _ in 0..2 {
            match self.queue(&spawn).send(pending).await {
                Ok(()) => return answer.await.unwrap_or_else(|_| Err(writer_gone())),
                Err(tokio::sync::mpsc::error::SendError(back)) => pending = back,
            }
        }
        Err(writer_gone())
    }
}

/// The batch writer stopped without answering (its runtime shut down mid-batch).
pub(crate) fn writer_gone() -> crate::error::StoreError {
    crate::error::StoreError::Backend(sqlx::Error::WorkerCrashed)
}

/// The same error again, for each registration of a batch that one failure ended (a lost
/// connection, a failed commit). `sqlx::Error` is not `Clone`; a database error's copy keeps
/// its text, which is all the web layer logs of a backend error.
pub(crate) fn replicate(e: &crate::error::StoreError) -> crate::error::StoreError {
    use crate::error::StoreError as E;
    match e {
        E::NotFound { what } => E::NotFound { what },
        E::Conflict(s) => E::Conflict(s.clone()),
        E::MissingReference(s) => E::MissingReference(s.clone()),
        E::Stale { what } => E::Stale { what },
        E::Corrupt(s) => E::Corrupt(s.clone()),
        E::InvalidUrl(s) => E::InvalidUrl(s.clone()),
        E::Backend(e) => E::Backend(match e {
            sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed => sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
            other => sqlx::Error::Protocol(other.to_string()),
        }),
        E::Migrate(m) => E::Backend(sqlx::Error::Protocol(m.to_string())),
    }
}

/// Why a batch was not written in one piece.
pub(crate) enum Together {
    /// Nothing was committed: write the batch again, one savepoint per registration.
    Retry(String),
    /// The commit failed and may or may not have happened.
    Unsure(crate::error::StoreError),
}

impl From<sqlx::Error> for Together {
    fn from(e: sqlx::Error) -> Self {
        Together::Retry(e.to_string())
    }
}

/// A returned row that matches no registration of the batch: never expected, and answered by
/// writing the batch the slow way rather than trusting the match.
pub(crate) fn mismatch() -> Together {
    Together::Retry("a returned row matched no registration of the batch".to_string())
}

/// What a batch's inserts returned: each registration's number, appeal id, question ids
/// (in question order) and, by question id, the assignment ids.
pub(crate) struct BatchIds {
    pub(crate) numbers: Vec<kontakt_appeals::RegNo>,
    pub(crate) appeal_ids: Vec<i64>,
    pub(crate) question_ids: Vec<Vec<i64>>,
    pub(crate) assignment_ids: std::collections::HashMap<i64, i64>,
}

impl BatchIds {
    /// Everything asked for was written, once: checked before the commit.
    pub(crate) fn check(&self, appeals: &[&crate::model::NewAppeal]) -> Result<(), Together> {
        let routed = |a: &&crate::model::NewAppeal| {
            a.questions.iter().filter(|q| q.assignment.is_some()).count()
        };
        let whole = self.numbers.len() == appeals.len()
            && self.appeal_ids.len() == appeals.len()
            && self.question_ids.len() == appeals.len()
            && appeals
                .iter()
                .zip(&self.question_ids)
                .all(|(a, ids)| ids.len() == a.questions.len())
            && self.assignment_ids.len() == appeals.iter().map(routed).sum::<usize>();
        if whole { Ok(()) } else { Err(mismatch()) }
    }

    /// The appeals as `register_appeal` returns them, in batch order.
    pub(crate) fn appeals(
        &self,
        appeals: &[&crate::model::NewAppeal],
    ) -> Vec<crate::model::Appeal> {
        appeals
            .iter()
            .zip(&self.appeal_ids)
            .zip(&self.numbers)
            .zip(&self.question_ids)
            .map(|(((a, &id), &reg_no), qids)| {
                let ids: Vec<(i64, Option<i64>)> = a
                    .questions
                    .iter()
                    .zip(qids)
                    .map(|(q, &qid)| {
                        (qid, q.assignment.as_ref().and(self.assignment_ids.get(&qid).copied()))
                    })
                    .collect();
                written_appeal(a, id, reg_no, &ids)
            })
            .collect()
    }
}

/// Answers every registration of a batch with (a copy of) the one error that ended it.
pub(crate) fn answer_all(batch: Vec<Pending>, e: &crate::error::StoreError) {
    for p in batch {
        let _ = p.reply.send(Err(replicate(e)));
    }
}

/// The appeal as `register_appeal` returns it: exactly what was written, so no read-back.
/// `ids` has one `(question id, assignment id)` per question, in order.
pub(crate) fn written_appeal(
    a: &crate::model::NewAppeal,
    id: i64,
    reg_no: kontakt_appeals::RegNo,
    ids: &[(i64, Option<i64>)],
) -> crate::model::Appeal {
    use crate::model::{Appeal, Assignment, Question};
    let questions = a
        .questions
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (q, &(question_id, assignment_id)))| Question {
            id: question_id,
            appeal_id: id,
            position: position(i),
            category_code: q.category_code.clone(),
            description: q.description.clone(),
            attributes: q.attributes.clone(),
            address: q.address.clone(),
            building_key: q.building_key.clone(),
            object_ref: q.object_ref.clone(),
            emergency: q.emergency.clone(),
            severity: q.severity,
            sla_due_at: q.sla_due_at,
            attention_at: q.attention_at,
            repeat_of: q.repeat_of,
            created_at: a.registered_at,
            assignments: q
                .assignment
                .as_ref()
                .zip(assignment_id)
                .map(|(s, assignment_id)| Assignment {
                    id: assignment_id,
                    question_id,
                    executor_id: s.executor_id,
                    state: kontakt_appeals::AssignmentState::Registered,
                    result: None,
                    issued_at: a.registered_at,
                    accepted_at: None,
                    due_at: s.due_at,
                    closed_at: None,
                    rework_count: 0,
                    version: 0,
                })
                .into_iter()
                .collect(),
        })
        .collect();
    Appeal {
        id,
        reg_no,
        applicant_id: a.applicant_id,
        channel: a.channel,
        legal_kind: a.legal_kind,
        answer_channel: a.answer_channel,
        collective: a.collective,
        call_id: a.call_id.clone(),
        operator_id: a.operator_id,
        received_at: a.received_at,
        registered_at: a.registered_at,
        legal_due_at: a.legal_due_at,
        extended_due_at: None,
        extension_notice_sent_at: None,
        repeat_of: a.repeat_of,
        questions,
    }
}

/// A question's 1-based position from its index.
pub(crate) fn position(index: usize) -> i64 {
    i64::try_from(index + 1).unwrap_or(i64::MAX)
}

/// The registration number `seq` of `year`, or the error the year's exhaustion is.
pub(crate) fn reg_no(year: i32, seq: i64) -> crate::error::Result<kontakt_appeals::RegNo> {
    u32::try_from(seq)
        .ok()
        .filter(|s| (1..=MAX_REG_SEQ).contains(s))
        .map(|seq| kontakt_appeals::RegNo { year, seq })
        .ok_or_else(|| {
            crate::error::StoreError::Conflict(format!(
                "registration numbers of {year} are used up"
            ))
        })
}

/// A scratch database for the batch tests: a temporary SQLite file or PostgreSQL schema.
#[cfg(test)]
pub(crate) enum Scratch {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, schema: String },
}

#[cfg(test)]
impl Scratch {
    pub(crate) async fn finish(self) {
        if let Scratch::Schema { url, schema } = self {
            #[allow(clippy::unwrap_used)]
            {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        }
    }
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

            /// Outage rows with their places, read on `pool` (the writer's, to read what was
            /// just written on SQLite's single writer connection).
            async fn load_outages(
                pool: &sqlx::Pool<$db>,
                rows: Vec<OutageRow>,
            ) -> Result<Vec<Outage>> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT outage_id, street, building FROM outage_places WHERE outage_id IN (",
                );
                let mut sep = qb.separated(", ");
                for r in &rows {
                    sep.push_bind(r.id());
                }
                qb.push(") ORDER BY outage_id, position");
                let places: Vec<OutagePlaceRow> = qb.build_query_as().fetch_all(pool).await?;
                let mut by_outage: std::collections::HashMap<i64, Vec<kontakt_appeals::OutagePlace>> =
                    std::collections::HashMap::with_capacity(rows.len());
                for p in places {
                    by_outage.entry(p.outage_id).or_default().push(p.into_place());
                }
                rows.into_iter()
                    .map(|r| {
                        let area = by_outage.remove(&r.id()).unwrap_or_default();
                        r.into_outage(area)
                    })
                    .collect()
            }

            async fn load_one_outage(pool: &sqlx::Pool<$db>, id: Id) -> Result<Outage> {
                let row: Option<OutageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {OUTAGE_COLUMNS} FROM outages o WHERE o.id = $1"
                )))
                .bind(id)
                .fetch_optional(pool)
                .await?;
                let row = row.ok_or(StoreError::NotFound { what: "outage" })?;
                Self::load_outages(pool, vec![row])
                    .await?
                    .pop()
                    .ok_or(StoreError::NotFound { what: "outage" })
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
                conn: &mut <$db as sqlx::Database>::Connection,
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
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn insert_assignment(
                conn: &mut <$db as sqlx::Database>::Connection,
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
                .fetch_one(&mut *conn)
                .await?;
                Self::insert_timeline(
                    conn,
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

            /// One transaction per registration: the path before group commit, kept for a
            /// store that turns group commit off, and for a batch of one that failed.
            async fn register_alone(pool: &sqlx::Pool<$db>, a: &NewAppeal) -> Result<Appeal> {
                let mut tx = pool.begin().await?;
                let appeal = Self::register_one(&mut tx, a).await?;
                tx.commit().await?;
                Ok(appeal)
            }

            /// Writes one registration inside an open transaction or savepoint, a statement at a
            /// time, in the order registration always used: appeal, its timeline entry, each
            /// question with its assignment, then the number. Numbering comes last so that a
            /// transaction of its own holds the counter row only for the last two statements
            /// and commit; a rolled-back registration leaves no gap.
            async fn register_one(
                conn: &mut <$db as sqlx::Database>::Connection,
                a: &NewAppeal,
            ) -> Result<Appeal> {
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
                .fetch_one(&mut *conn)
                .await?;
                Self::insert_timeline(
                    conn,
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
                let mut ids = Vec::with_capacity(a.questions.len());
                for (i, q) in a.questions.iter().enumerate() {
                    let (question_id, _, _): (i64, i64, i64) =
                        Self::question_insert([(appeal_id, i, q, a)])
                            .build_query_as()
                            .fetch_one(&mut *conn)
                            .await?;
                    let assignment_id = match &q.assignment {
                        Some(assignment) => Some(
                            Self::insert_assignment(
                                conn,
                                appeal_id,
                                question_id,
                                assignment,
                                a.actor,
                                a.registered_at,
                            )
                            .await?,
                        ),
                        None => None,
                    };
                    ids.push((question_id, assignment_id));
                }
                let (seq,): (i64,) = sqlx::query_as(
                    "INSERT INTO reg_counters (year, last_seq) VALUES ($1, 1) \
                     ON CONFLICT (year) DO UPDATE SET last_seq = reg_counters.last_seq + 1 \
                     RETURNING last_seq",
                )
                .bind(i64::from(a.reg_year))
                .fetch_one(&mut *conn)
                .await?;
                let reg_no = reg_no(a.reg_year, seq)?;
                sqlx::query("UPDATE appeals SET reg_seq = $1, reg_no = $2 WHERE id = $3")
                    .bind(i64::from(reg_no.seq))
                    .bind(reg_no.to_string())
                    .bind(appeal_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(written_appeal(a, appeal_id, reg_no, &ids))
            }

            /// `INSERT INTO questions … VALUES …` for `rows` (appeal id, question index, question,
            /// its appeal), `RETURNING id, appeal_id, position`.
            fn question_insert<'a>(
                rows: impl IntoIterator<Item = (i64, usize, &'a NewQuestion, &'a NewAppeal)>,
            ) -> QueryBuilder<$db> {
                let mut qb = QueryBuilder::<$db>::new(
                    "INSERT INTO questions (appeal_id, position, category_code, description, \
                     attributes, city, street, building, entrance, flat, floor, district, \
                     building_key, lat, lon, object_ref, is_emergency, discovered_at, nature, \
                     severity, sla_due_at, attention_at, repeat_of, created_at, search_text) ",
                );
                qb.push_values(rows, |mut row, (appeal_id, index, q, a)| {
                    let addr = q.address.as_ref();
                    let em = q.emergency.as_ref();
                    row.push_bind(appeal_id)
                        .push_bind(position(index))
                        .push_bind(q.category_code.as_str())
                        .push_bind(q.description.as_str())
                        .push_bind(to_json(&q.attributes))
                        .push_bind(addr.and_then(|x| x.city.as_deref()))
                        .push_bind(addr.map(|x| x.street.as_str()))
                        .push_bind(addr.map(|x| x.building.as_str()))
                        .push_bind(addr.and_then(|x| x.entrance.as_deref()))
                        .push_bind(addr.and_then(|x| x.flat.as_deref()))
                        .push_bind(addr.and_then(|x| x.floor.map(i64::from)))
                        .push_bind(addr.and_then(|x| x.district.as_deref()))
                        .push_bind(q.building_key.as_deref())
                        .push_bind(addr.and_then(|x| x.lat))
                        .push_bind(addr.and_then(|x| x.lon))
                        .push_bind(q.object_ref.as_deref())
                        .push_bind(em.is_some())
                        .push_bind(em.map(|e| e.discovered_at))
                        .push_bind(em.map(|e| e.nature.as_str()))
                        .push_bind(q.severity.as_str())
                        .push_bind(q.sla_due_at)
                        .push_bind(q.attention_at)
                        .push_bind(q.repeat_of)
                        .push_bind(a.registered_at)
                        .push_bind(q.description.to_lowercase());
                });
                qb.push(" RETURNING id, appeal_id, position");
                qb
            }

            /// The batch writer of one store: takes whatever registrations are queued (up to
            /// `MAX_BATCH`) and writes them, until the store is dropped.
            ///
            /// Each batch is first written whole in one transaction with multi-row statements
            /// (`write_together`). If a statement fails, that transaction is rolled back whole
            /// and the batch is written again with a savepoint per registration
            /// (`write_apart`): the failing registration gets exactly the error it would have
            /// got alone, and the others commit. Numbers stay gap-free either way: they are
            /// taken inside the transaction that writes the appeals.
            ///
            /// With `Self::HOLD_REGISTRAR_CONNECTION` the writer keeps its connection from one
            /// batch to the next (a connection of its own); otherwise it takes the connection
            /// per batch, so other writes get their turn between batches.
            async fn batch_writer(
                pool: sqlx::Pool<$db>,
                mut queue: tokio::sync::mpsc::Receiver<Pending>,
            ) {
                let mut held: Option<sqlx::pool::PoolConnection<$db>> = None;
                let mut queued = Vec::with_capacity(MAX_BATCH);
                while queue.recv_many(&mut queued, MAX_BATCH).await > 0 {
                    let mut batch = std::mem::take(&mut queued);
                    // A caller that gave up before its turn is not registered at all, as if
                    // it had been cancelled before its transaction began.
                    batch.retain(|p| !p.reply.is_closed());
                    if batch.is_empty() {
                        continue;
                    }
                    let mut conn = match held.take() {
                        Some(conn) => conn,
                        None => match pool.acquire().await {
                            Ok(conn) => conn,
                            Err(e) => {
                                answer_all(batch, &e.into());
                                continue;
                            }
                        },
                    };
                    match Self::write_together(&mut conn, &batch).await {
                        Ok(saved) => {
                            for (p, appeal) in batch.into_iter().zip(saved) {
                                let _ = p.reply.send(Ok(appeal));
                            }
                            if Self::HOLD_REGISTRAR_CONNECTION {
                                held = Some(conn);
                            }
                        }
                        Err(Together::Unsure(e)) => answer_all(batch, &e),
                        Err(Together::Retry(why)) => {
                            // Back to the pool, which tests it: a broken connection is
                            // replaced before the batch is written again.
                            drop(conn);
                            tracing::debug!(
                                size = batch.len(),
                                %why,
                                "batch written again, one savepoint per registration"
                            );
                            Self::write_apart(&pool, batch).await;
                        }
                    }
                }
            }

            /// The whole batch in one transaction: `Self::insert_batch` (per backend) writes
            /// it, then one commit.
            ///
            /// Numbers are taken first here, not last as in `register_one`: this writer is the
            /// only one registering for its store, so nobody in this process waits for the
            /// counter row, and an appeal inserted with its number needs no second write of
            /// the row and its indexes.
            async fn write_together(
                conn: &mut <$db as sqlx::Database>::Connection,
                batch: &[Pending],
            ) -> std::result::Result<Vec<Appeal>, Together> {
                let mut tx = sqlx::Connection::begin(conn).await?;
                let appeals: Vec<&NewAppeal> = batch.iter().map(|p| &p.appeal).collect();
                let ids = Self::insert_batch(&mut tx, &appeals).await?;
                ids.check(&appeals)?;
                match tx.commit().await {
                    Ok(()) => {}
                    // The database refused the commit: nothing was written, so writing the
                    // registrations again one by one is safe.
                    Err(e @ sqlx::Error::Database(_)) => return Err(e.into()),
                    // The commit may or may not have happened: answering with the error, as a
                    // lone registration would, is all that is safe.
                    Err(e) => return Err(Together::Unsure(e.into())),
                }
                Ok(ids.appeals(&appeals))
            }

            /// Writes a batch with a few multi-row statements, in text both databases accept:
            /// the counters (one statement per year), appeals, questions, assignments,
            /// timeline. Each inserted row is matched to its registration by a unique key it
            /// returns: (year, number) for appeals, (appeal, position) for questions, the
            /// question for assignments (a new question has at most one).
            #[cfg_attr(not(test), allow(dead_code))] // PostgreSQL: one statement, in pg.rs
            async fn insert_batch_statements(
                tx: &mut <$db as sqlx::Database>::Connection,
                appeals: &[&NewAppeal],
            ) -> std::result::Result<BatchIds, Together> {
                // Numbers, in batch order within each year. Years are locked in ascending
                // order, so two processes' batches cannot deadlock on the counter rows.
                let mut years: Vec<i32> = appeals.iter().map(|a| a.reg_year).collect();
                years.sort_unstable();
                years.dedup();
                let mut next_seq = std::collections::HashMap::with_capacity(years.len());
                for year in years {
                    let count = appeals.iter().filter(|a| a.reg_year == year).count();
                    let count = i64::try_from(count).unwrap_or(i64::MAX);
                    let (last,): (i64,) = sqlx::query_as(
                        "INSERT INTO reg_counters (year, last_seq) VALUES ($1, $2) \
                         ON CONFLICT (year) DO UPDATE \
                         SET last_seq = reg_counters.last_seq + excluded.last_seq \
                         RETURNING last_seq",
                    )
                    .bind(i64::from(year))
                    .bind(count)
                    .fetch_one(&mut *tx)
                    .await?;
                    if reg_no(year, last).is_err() {
                        // The year runs out inside this batch: one at a time, the
                        // registrations past the last number get the error they get alone.
                        return Err(Together::Retry(format!("registration numbers of {year} run out")));
                    }
                    next_seq.insert(year, last - count + 1);
                }
                let mut numbers = Vec::with_capacity(appeals.len());
                for a in appeals {
                    let seq = next_seq.get_mut(&a.reg_year).ok_or(mismatch())?;
                    numbers.push(reg_no(a.reg_year, *seq).map_err(|e| Together::Retry(e.to_string()))?);
                    *seq += 1;
                }

                // Appeals, with their numbers.
                let by_number: std::collections::HashMap<(i64, i64), usize> = numbers
                    .iter()
                    .enumerate()
                    .map(|(i, n)| ((i64::from(n.year), i64::from(n.seq)), i))
                    .collect();
                let mut appeal_ids = vec![None; appeals.len()];
                let indices: Vec<usize> = (0..appeals.len()).collect();
                for chunk in indices.chunks(ROWS_PER_INSERT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO appeals (reg_no, reg_year, reg_seq, applicant_id, channel, \
                         legal_kind, answer_channel, collective, call_id, operator_id, \
                         received_at, registered_at, legal_due_at, repeat_of) ",
                    );
                    qb.push_values(chunk, |mut row, &i| {
                        let (a, n) = (appeals[i], numbers[i]);
                        row.push_bind(n.to_string())
                            .push_bind(i64::from(n.year))
                            .push_bind(i64::from(n.seq))
                            .push_bind(a.applicant_id)
                            .push_bind(a.channel.as_str())
                            .push_bind(a.legal_kind.as_str())
                            .push_bind(a.answer_channel.map(|c| c.as_str()))
                            .push_bind(a.collective)
                            .push_bind(a.call_id.as_deref())
                            .push_bind(a.operator_id)
                            .push_bind(a.received_at)
                            .push_bind(a.registered_at)
                            .push_bind(a.legal_due_at)
                            .push_bind(a.repeat_of);
                    });
                    qb.push(" RETURNING id, reg_year, reg_seq");
                    let rows: Vec<(i64, i64, Option<i64>)> =
                        qb.build_query_as().fetch_all(&mut *tx).await?;
                    for (id, year, seq) in rows {
                        let i = seq.and_then(|seq| by_number.get(&(year, seq))).copied();
                        let slot = i.and_then(|i| appeal_ids.get_mut(i));
                        *slot.ok_or(mismatch())? = Some(id);
                    }
                }
                let appeal_ids: Vec<i64> = appeal_ids
                    .into_iter()
                    .collect::<Option<_>>()
                    .ok_or(mismatch())?;

                // Questions.
                let mut question_ids: Vec<Vec<Option<i64>>> =
                    appeals.iter().map(|a| vec![None; a.questions.len()]).collect();
                let by_appeal: std::collections::HashMap<i64, usize> =
                    appeal_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                let rows: Vec<(i64, usize, &NewQuestion, &NewAppeal)> = appeals
                    .iter()
                    .zip(&appeal_ids)
                    .flat_map(|(a, id)| {
                        a.questions.iter().enumerate().map(move |(i, q)| (*id, i, q, *a))
                    })
                    .collect();
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    let returned: Vec<(i64, i64, i64)> = Self::question_insert(chunk.iter().copied())
                        .build_query_as()
                        .fetch_all(&mut *tx)
                        .await?;
                    for (id, appeal_id, position) in returned {
                        let slot = by_appeal.get(&appeal_id).and_then(|&i| {
                            let index = usize::try_from(position - 1).ok()?;
                            question_ids[i].get_mut(index)
                        });
                        *slot.ok_or(mismatch())? = Some(id);
                    }
                }
                let question_ids: Vec<Vec<i64>> = question_ids
                    .into_iter()
                    .map(|ids| ids.into_iter().collect::<Option<Vec<_>>>())
                    .collect::<Option<_>>()
                    .ok_or(mismatch())?;

                // Assignments: at most one per new question.
                let rows: Vec<(i64, &NewAssignment, &NewAppeal)> = appeals
                    .iter()
                    .zip(&question_ids)
                    .flat_map(|(a, ids)| {
                        a.questions.iter().zip(ids).filter_map(move |(q, id)| {
                            q.assignment.as_ref().map(|s| (*id, s, *a))
                        })
                    })
                    .collect();
                let mut assignment_ids = std::collections::HashMap::with_capacity(rows.len());
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO assignments (question_id, executor_id, state, issued_at, \
                         due_at) ",
                    );
                    qb.push_values(chunk, |mut row, &(question_id, s, a)| {
                        row.push_bind(question_id)
                            .push_bind(s.executor_id)
                            .push_bind(kontakt_appeals::AssignmentState::Registered.as_str())
                            .push_bind(a.registered_at)
                            .push_bind(s.due_at);
                    });
                    qb.push(" RETURNING id, question_id");
                    let returned: Vec<(i64, i64)> =
                        qb.build_query_as().fetch_all(&mut *tx).await?;
                    assignment_ids.extend(returned.into_iter().map(|(id, q)| (q, id)));
                }

                // Timeline: per appeal "registered", then "assigned" per routed question, in
                // that order (a timeline reads in id order).
                let mut entries = Vec::with_capacity(appeals.len() + rows.len());
                for ((a, &appeal_id), ids) in appeals.iter().zip(&appeal_ids).zip(&question_ids) {
                    entries.push((a, appeal_id, None, None));
                    for (q, &question_id) in a.questions.iter().zip(ids) {
                        if q.assignment.is_some() {
                            let assignment_id = assignment_ids.get(&question_id).copied();
                            entries.push((a, appeal_id, Some(question_id), assignment_id));
                        }
                    }
                }
                for chunk in entries.chunks(ROWS_PER_INSERT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO timeline (appeal_id, question_id, assignment_id, \
                         actor_user_id, actor_kind, kind, from_state, to_state, result, \
                         public_text, private_text, created_at) ",
                    );
                    qb.push_values(chunk, |mut row, &(a, appeal_id, question_id, assignment_id)| {
                        let assigned = question_id.is_some();
                        row.push_bind(appeal_id)
                            .push_bind(question_id)
                            .push_bind(assignment_id)
                            .push_bind(a.actor.user_id)
                            .push_bind(a.actor.kind.as_str())
                            .push_bind(if assigned { TL_ASSIGNED } else { TL_REGISTERED })
                            .push_bind(None::<&str>)
                            .push_bind(
                                assigned.then_some(
                                    kontakt_appeals::AssignmentState::Registered.as_str(),
                                ),
                            )
                            .push_bind(None::<&str>)
                            .push_bind(None::<&str>)
                            .push_bind(None::<&str>)
                            .push_bind(a.registered_at);
                    });
                    qb.build().execute(&mut *tx).await?;
                }

                Ok(BatchIds { numbers, appeal_ids, question_ids, assignment_ids })
            }

            /// The batch again in one transaction, each registration in its own savepoint and
            /// written as it is alone (`register_one`): one that fails is rolled back to its
            /// savepoint with its own error, and takes no number; the others commit.
            async fn write_apart(pool: &sqlx::Pool<$db>, batch: Vec<Pending>) {
                if let [_] = batch.as_slice() {
                    for p in batch {
                        let result = Self::register_alone(pool, &p.appeal).await;
                        let _ = p.reply.send(result);
                    }
                    return;
                }
                let mut tx = match pool.begin().await {
                    Ok(tx) => tx,
                    Err(e) => return answer_all(batch, &e.into()),
                };
                let mut outcomes: Vec<Result<Appeal>> = Vec::with_capacity(batch.len());
                let mut broken: Option<StoreError> = None;
                for p in &batch {
                    let mut savepoint = match sqlx::Acquire::begin(&mut tx).await {
                        Ok(savepoint) => savepoint,
                        Err(e) => {
                            broken = Some(e.into());
                            break;
                        }
                    };
                    let outcome = Self::register_one(&mut savepoint, &p.appeal).await;
                    let closed = match &outcome {
                        Ok(_) => savepoint.commit().await,
                        Err(_) => savepoint.rollback().await,
                    };
                    if let Err(e) = closed {
                        broken = Some(e.into());
                        break;
                    }
                    outcomes.push(outcome);
                }
                // Registrations that failed on their own keep their error whatever happens
                // next; the others share the fate of the transaction.
                let shared = match broken {
                    Some(e) => Some(e),
                    None => match tx.commit().await {
                        Ok(()) => None,
                        Err(e) => Some(e.into()),
                    },
                };
                let mut outcomes = outcomes.into_iter();
                for p in batch {
                    let result = match (outcomes.next(), &shared) {
                        (Some(Err(own)), _) => Err(own),
                        (Some(Ok(appeal)), None) => Ok(appeal),
                        (_, Some(e)) => Err(replicate(e)),
                        (None, None) => Err(writer_gone()),
                    };
                    let _ = p.reply.send(result);
                }
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
                    self.reference().categories_changed();
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
                    // From the reference cache (`refcache.rs`): every registration asks.
                    let by_code = match self.reference().categories() {
                        Ok(by_code) => by_code,
                        Err(generation) => {
                            let all = self.categories().await?;
                            self.reference().put_categories(generation, all)
                        }
                    };
                    Ok(by_code.get(code).cloned())
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
                    self.reference().responsibilities_changed();
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
                    // The whole map from the reference cache (`refcache.rs`), filtered here
                    // as the SQL did: every registration routes through it.
                    let lines = match self.reference().responsibilities() {
                        Ok(lines) => lines,
                        Err(generation) => {
                            let all = self.responsibilities().await?;
                            self.reference().put_responsibilities(generation, all)
                        }
                    };
                    Ok(crate::refcache::lines_for(&lines, category_code, at))
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
                    let (id, created_at, updated_at): (i64, DateTime<Utc>, DateTime<Utc>) =
                        sqlx::query_as(
                            "INSERT INTO applicants (last_name, first_name, patronymic, \
                             search_name, email, kind, privileges, confidential, assurance, city, \
                             street, building, entrance, flat, floor, district, building_key, \
                             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                             $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
                             RETURNING id, created_at, updated_at",
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
                    // The phones as `applicant()` lists them: each once, in order (E.164
                    // numbers sort the same bytewise and in any collation).
                    let mut phones = a.phones;
                    phones.sort_unstable();
                    phones.dedup();
                    for chunk in phones.chunks(ROWS_PER_INSERT) {
                        let mut qb = QueryBuilder::<$db>::new(
                            "INSERT INTO applicant_phones (phone, applicant_id) ",
                        );
                        qb.push_values(chunk, |mut row, phone| {
                            row.push_bind(phone.as_str()).push_bind(id);
                        });
                        qb.push(" ON CONFLICT DO NOTHING");
                        qb.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    // Everything returned is what was just written (the times as the database
                    // keeps them): no read-back needed.
                    Ok(Applicant {
                        id,
                        last_name: a.last_name,
                        first_name: a.first_name,
                        patronymic: a.patronymic,
                        email: a.email,
                        kind: a.kind,
                        privileges: a.privileges,
                        confidential: a.confidential,
                        assurance: a.assurance,
                        // Applicants keep no coordinates.
                        address: a.address.map(|x| kontakt_appeals::Address {
                            lat: None,
                            lon: None,
                            ..x
                        }),
                        phones,
                        created_at,
                        updated_at,
                    })
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
                    if !self.registrar().group_commit() {
                        return Self::register_alone(self.writer(), &a).await;
                    }
                    self.registrar()
                        .submit(a, |queue| {
                            tokio::spawn(Self::batch_writer(self.registrar_pool().clone(), queue));
                        })
                        .await
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
                    if f.category_prefix.is_some() || f.text.is_some() || f.building_key.is_some() {
                        qb.push(" AND EXISTS (SELECT 1 FROM questions q WHERE q.appeal_id = p.id");
                        if let Some(key) = &f.building_key {
                            qb.push(" AND q.building_key = ");
                            qb.push_bind(key.clone());
                        }
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

            fn create_outage(&self, o: NewOutage) -> StoreFuture<'_, Outage> {
                Box::pin(async move {
                    let d = &o.draft;
                    let mut tx = self.writer().begin().await?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO outages (kind, class, nature, executor_id, started_at, \
                         planned_end_at, public_message, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(d.kind.as_str())
                    .bind(d.class.as_str())
                    .bind(d.nature.as_str())
                    .bind(d.executor_id)
                    .bind(d.started_at)
                    .bind(d.planned_end_at)
                    .bind(d.public_message.as_deref())
                    .bind(o.created_by)
                    .bind(o.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                    let places: Vec<(usize, &kontakt_appeals::OutagePlace)> =
                        d.area.iter().enumerate().collect();
                    for chunk in places.chunks(ROWS_PER_INSERT) {
                        let mut qb = QueryBuilder::<$db>::new(
                            "INSERT INTO outage_places (outage_id, position, street, building, \
                             street_key, building_key) ",
                        );
                        qb.push_values(chunk, |mut row, (i, p)| {
                            row.push_bind(id)
                                .push_bind(position(*i))
                                .push_bind(p.street.clone())
                                .push_bind(p.building.clone())
                                .push_bind(p.street_key())
                                .push_bind(p.building_key());
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                    // Read back inside the transaction: the times as the database keeps them.
                    let row: OutageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUTAGE_COLUMNS} FROM outages o WHERE o.id = $1"
                    )))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    row.into_outage(d.area.clone())
                })
            }

            fn outage(&self, id: Id) -> StoreFuture<'_, Outage> {
                Box::pin(async move { Self::load_one_outage(self.reader(), id).await })
            }

            fn list_outages<'a>(&'a self, f: &'a OutageFilter) -> StoreFuture<'a, Vec<Outage>> {
                Box::pin(async move {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {OUTAGE_COLUMNS} FROM outages o WHERE 1 = 1"
                    ));
                    if let Some(at) = f.active_at {
                        // An overrun past planned_end_at is still an outage: only ended_at
                        // ends one.
                        qb.push(" AND o.ended_at IS NULL AND o.started_at <= ");
                        qb.push_bind(at);
                    }
                    if let Some(executor_id) = f.executor_id {
                        qb.push(" AND o.executor_id = ");
                        qb.push_bind(executor_id);
                    }
                    if let Some(street_key) = &f.street_key {
                        qb.push(
                            " AND EXISTS (SELECT 1 FROM outage_places p \
                             WHERE p.outage_id = o.id AND p.street_key = ",
                        );
                        qb.push_bind(street_key.clone());
                        if let Some(building_key) = &f.building_key {
                            // A street-wide place covers every building of the street.
                            qb.push(" AND (p.building_key IS NULL OR p.building_key = ");
                            qb.push_bind(building_key.clone());
                            qb.push(")");
                        }
                        qb.push(")");
                    }
                    qb.push(" ORDER BY o.started_at DESC, o.id DESC LIMIT ");
                    qb.push_bind(f.limit);
                    let rows: Vec<OutageRow> = qb.build_query_as().fetch_all(self.reader()).await?;
                    Self::load_outages(self.reader(), rows).await
                })
            }

            fn end_outage(&self, id: Id, ended_at: DateTime<Utc>) -> StoreFuture<'_, Outage> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE outages SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
                    )
                    .bind(ended_at)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                    let outage = Self::load_one_outage(self.writer(), id).await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("outage already ended".into()));
                    }
                    Ok(outage)
                })
            }
        }

        /// The batch writer, driven with batches made up front: what one transaction does
        /// when one of its registrations fails, when a year runs out of numbers inside it,
        /// and when a caller has given up.
        #[cfg(test)]
        mod batch_tests {
            #![allow(clippy::unwrap_used)]

            use super::*;
            use tokio::sync::{mpsc, oneshot};

            type Answer = oneshot::Receiver<Result<Appeal>>;

            fn at() -> DateTime<Utc> {
                chrono::DateTime::parse_from_rfc3339("2026-06-01T08:00:00.123456Z")
                    .unwrap()
                    .with_timezone(&Utc)
            }

            async fn reference(store: &$store) -> i64 {
                for (code, parent, leaf) in
                    [("water", None, false), ("water.no_cold_water", Some("water"), true)]
                {
                    store
                        .upsert_category(Category {
                            code: code.into(),
                            parent_code: parent.map(Into::into),
                            name_uk: code.into(),
                            name_en: None,
                            is_emergency: false,
                            severity: kontakt_appeals::Severity::P2,
                            sla_hours: Some(24),
                            attention_pct: 75,
                            legal_track: kontakt_appeals::LegalTrack::Art20Short,
                            attribute_schema: Vec::new(),
                            is_leaf: leaf,
                            active: true,
                        })
                        .await
                        .unwrap();
                }
                let executor = NewExecutor {
                    code: "vodokanal".into(),
                    name_uk: "Водоканал".into(),
                    name_en: None,
                    phone: None,
                };
                store.create_executor(executor, at()).await.unwrap().id
            }

            fn appeal(year: i32, category: &str, executor: Option<i64>) -> NewAppeal {
                let question = |category: &str, executor: Option<i64>| NewQuestion {
                    category_code: category.into(),
                    description: "Немає холодної води".into(),
                    attributes: serde_json::json!({"scope": "building"}),
                    address: None,
                    building_key: Some("вул. перемоги|12".into()),
                    object_ref: None,
                    emergency: None,
                    severity: kontakt_appeals::Severity::P1,
                    sla_due_at: Some(at() + chrono::Duration::hours(24)),
                    attention_at: None,
                    repeat_of: None,
                    assignment: executor.map(|executor_id| NewAssignment {
                        executor_id,
                        due_at: None,
                    }),
                };
                NewAppeal {
                    reg_year: year,
                    applicant_id: None,
                    channel: kontakt_appeals::Channel::Phone,
                    legal_kind: kontakt_appeals::LegalKind::Complaint,
                    answer_channel: None,
                    collective: false,
                    call_id: None,
                    operator_id: None,
                    received_at: at(),
                    registered_at: at(),
                    legal_due_at: None,
                    repeat_of: None,
                    // The failing question comes second, after one that is written.
                    questions: vec![
                        question("water.no_cold_water", executor),
                        question(category, executor),
                    ],
                    actor: Actor { user_id: None, kind: kontakt_appeals::ActorKind::System },
                }
            }

            /// Writes `appeals` as exactly one batch (they are all queued before the writer
            /// starts); `None` is a caller that gave up before its turn.
            async fn one_batch(store: &$store, appeals: Vec<Option<NewAppeal>>) -> Vec<Answer> {
                let (queue, receiver) = mpsc::channel(MAX_BATCH);
                let mut answers = Vec::new();
                for appeal in appeals {
                    let (reply, answer) = oneshot::channel();
                    let appeal = match appeal {
                        Some(appeal) => {
                            answers.push(answer);
                            appeal
                        }
                        None => {
                            drop(answer);
                            self::appeal(2026, "water.no_cold_water", None)
                        }
                    };
                    queue.send(Pending { appeal, reply }).await.unwrap();
                }
                drop(queue);
                <$store>::batch_writer(store.registrar_pool().clone(), receiver).await;
                answers
            }

            /// The number given, or the error in short.
            fn label(r: &Result<Appeal>) -> std::result::Result<String, String> {
                match r {
                    Ok(appeal) => Ok(appeal.reg_no.to_string()),
                    Err(StoreError::MissingReference(_)) => Err("missing".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }

            async fn numbers(answers: Vec<Answer>) -> Vec<std::result::Result<String, String>> {
                let mut out = Vec::new();
                for answer in answers {
                    out.push(label(&answer.await.unwrap()));
                }
                out
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_failure_fails_alone_and_takes_no_number() {
                let Some((store, scratch)) = <$store>::scratch().await else { return };
                let executor = reference(&store).await;
                let ok = || Some(appeal(2026, "water.no_cold_water", Some(executor)));
                let answers = one_batch(
                    &store,
                    vec![ok(), ok(), Some(appeal(2026, "no.such", Some(executor))), ok(), ok()],
                )
                .await;
                let mut saved = Vec::new();
                for answer in answers {
                    saved.push(answer.await.unwrap());
                }
                let got: Vec<_> = saved.iter().map(label).collect();
                assert_eq!(
                    got,
                    [
                        Ok("2026-000001".to_string()),
                        Ok("2026-000002".to_string()),
                        Err("missing".to_string()),
                        Ok("2026-000003".to_string()),
                        Ok("2026-000004".to_string()),
                    ]
                );
                assert_eq!(store.count_appeals().await.unwrap(), 4);
                // What the batch answered is what it stored, timeline included.
                for appeal in saved.into_iter().flatten() {
                    assert_eq!(store.appeal(appeal.id).await.unwrap(), appeal);
                    let kinds: Vec<String> = store
                        .timeline(appeal.id)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|e| e.kind)
                        .collect();
                    assert_eq!(kinds, ["registered", "assigned", "assigned"]);
                }
                // The next registration follows without a gap.
                let next = one_batch(&store, vec![ok()]).await;
                assert_eq!(numbers(next).await, [Ok("2026-000005".to_string())]);
                scratch.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_batch_that_is_all_failures_changes_nothing() {
                let Some((store, scratch)) = <$store>::scratch().await else { return };
                let executor = reference(&store).await;
                let bad = || Some(appeal(2026, "no.such", Some(executor)));
                let missing_executor = Some(appeal(2026, "water.no_cold_water", Some(4242)));
                let answers = one_batch(&store, vec![bad(), missing_executor, bad()]).await;
                assert_eq!(numbers(answers).await, vec![Err("missing".to_string()); 3]);
                // Alone, the failing registration gets the error it gets in a batch.
                let answers = one_batch(&store, vec![bad()]).await;
                assert_eq!(numbers(answers).await, [Err("missing".to_string())]);
                assert_eq!(store.count_appeals().await.unwrap(), 0);
                let ok = Some(appeal(2026, "water.no_cold_water", Some(executor)));
                let answers = one_batch(&store, vec![ok]).await;
                assert_eq!(numbers(answers).await, [Ok("2026-000001".to_string())]);
                scratch.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_year_that_runs_out_inside_a_batch() {
                let Some((store, scratch)) = <$store>::scratch().await else { return };
                let executor = reference(&store).await;
                sqlx::query("INSERT INTO reg_counters (year, last_seq) VALUES (2026, 999997)")
                    .execute(store.writer())
                    .await
                    .unwrap();
                let ok = |year| Some(appeal(year, "water.no_cold_water", Some(executor)));
                let answers =
                    one_batch(&store, vec![ok(2026), ok(2027), ok(2026), ok(2026), ok(2027)])
                        .await;
                let used_up = Err("conflict: registration numbers of 2026 are used up".to_string());
                assert_eq!(
                    numbers(answers).await,
                    [
                        Ok("2026-999998".to_string()),
                        Ok("2027-000001".to_string()),
                        Ok("2026-999999".to_string()),
                        used_up.clone(),
                        Ok("2027-000002".to_string()),
                    ]
                );
                assert_eq!(store.count_appeals().await.unwrap(), 4);
                let answers = one_batch(&store, vec![ok(2026), ok(2027)]).await;
                assert_eq!(numbers(answers).await, [used_up, Ok("2027-000003".to_string())]);
                scratch.finish().await;
            }

            /// `write_together` alone, without the fallback behind it.
            async fn together(
                store: &$store,
                appeals: Vec<NewAppeal>,
            ) -> std::result::Result<Vec<Appeal>, Together> {
                let batch: Vec<Pending> = appeals
                    .into_iter()
                    .map(|appeal| Pending { appeal, reply: oneshot::channel().0 })
                    .collect();
                let mut conn = store.registrar_pool().acquire().await.unwrap();
                <$store>::write_together(&mut conn, &batch).await
            }

            /// The shared multi-statement path alone (what SQLite's `insert_batch` runs;
            /// PostgreSQL's runs one statement instead), committed.
            async fn statements(store: &$store, appeals: Vec<NewAppeal>) -> Vec<Appeal> {
                let appeals: Vec<&NewAppeal> = appeals.iter().collect();
                let mut conn = store.registrar_pool().acquire().await.unwrap();
                let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
                let Ok(ids) = <$store>::insert_batch_statements(&mut tx, &appeals).await else {
                    panic!("the statements should write the batch");
                };
                assert!(ids.check(&appeals).is_ok());
                tx.commit().await.unwrap();
                ids.appeals(&appeals)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_batch_larger_than_one_statement_is_written_together() {
                let Some((store, scratch)) = <$store>::scratch().await else { return };
                let executor = reference(&store).await;
                // 3 × 100 questions and 3 + 300 timeline entries: more rows than one
                // multi-row INSERT takes, so each table gets two statements; some questions
                // are routed and some not, and the years differ.
                let big = |year| {
                    let mut a = appeal(year, "water.no_cold_water", Some(executor));
                    a.questions = (0..100)
                        .map(|i| {
                            let mut q = a.questions[0].clone();
                            if i % 3 == 1 {
                                q.assignment = None;
                            }
                            q
                        })
                        .collect();
                    a
                };
                assert!(300 > ROWS_PER_INSERT);
                let Ok(saved) = together(&store, vec![big(2026), big(2027), big(2026)]).await
                else {
                    panic!("the batch should be written in one piece");
                };
                let shared = statements(&store, vec![big(2027), big(2026)]).await;
                let numbers: Vec<String> =
                    saved.iter().chain(&shared).map(|a| a.reg_no.to_string()).collect();
                assert_eq!(
                    numbers,
                    ["2026-000001", "2027-000001", "2026-000002", "2027-000002", "2026-000003"]
                );
                for appeal in saved.into_iter().chain(shared) {
                    assert_eq!(appeal.questions.len(), 100);
                    assert_eq!(store.appeal(appeal.id).await.unwrap(), appeal);
                    let timeline = store.timeline(appeal.id).await.unwrap();
                    let mut expected = vec![(TL_REGISTERED.to_string(), None)];
                    for q in &appeal.questions {
                        for s in &q.assignments {
                            expected.push((TL_ASSIGNED.to_string(), Some(s.id)));
                        }
                    }
                    let got: Vec<_> =
                        timeline.into_iter().map(|e| (e.kind, e.assignment_id)).collect();
                    assert_eq!(got, expected);
                }
                // A failing registration makes the whole attempt roll back, for the fallback.
                let bad = appeal(2026, "no.such", Some(executor));
                let attempt = together(&store, vec![big(2026), bad]).await;
                assert!(matches!(attempt, Err(Together::Retry(_))));
                assert_eq!(store.count_appeals().await.unwrap(), 5);
                scratch.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_caller_that_gave_up_is_not_registered() {
                let Some((store, scratch)) = <$store>::scratch().await else { return };
                let executor = reference(&store).await;
                let ok = || Some(appeal(2026, "water.no_cold_water", Some(executor)));
                let answers = one_batch(&store, vec![ok(), None, ok()]).await;
                assert_eq!(
                    numbers(answers).await,
                    [Ok("2026-000001".to_string()), Ok("2026-000002".to_string())]
                );
                assert_eq!(store.count_appeals().await.unwrap(), 2);
                scratch.finish().await;
            }
        }
    };
}

pub(crate) use sql_store;
