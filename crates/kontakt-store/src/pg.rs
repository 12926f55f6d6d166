//! The PostgreSQL backend: one pool for reads and writes; row locks do the queueing.
//! Registrations go through the store's batch writer (group commit, `sql.rs`), which has a
//! connection of its own.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row as _};

use crate::model::{NewAppeal, NewQuestion};
use crate::refcache::{REFERENCE_TTL, RefCache};
use crate::rows::to_json;
use crate::sql::{
    BatchIds, Registrar, TL_ASSIGNED, TL_REGISTERED, Together, mismatch, position, reg_no,
};

pub struct PgStore {
    pool: PgPool,
    /// The batch writer's one connection, opened on first use: registrations never wait
    /// behind reads for a pool connection.
    registrar_pool: PgPool,
    registrar: Registrar,
    reference: RefCache,
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
        let registrar_pool = pool_options().max_connections(1).connect_lazy_with(options.clone());
        let pool = pool_options().max_connections(16).connect_with(options).await?;
        Ok(PgStore {
            pool,
            registrar_pool,
            registrar: Registrar::new(),
            reference: RefCache::new(REFERENCE_TTL),
        })
    }

    /// Whether concurrent `register_appeal` calls share transactions (group commit; on by
    /// default). Off, each registration is its own transaction on the shared pool, as before
    /// group commit: for comparison in benchmarks.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.registrar.set_group_commit(on);
        self
    }

    /// How long the category tree and the responsibility map are used from memory before
    /// they are read again ([`REFERENCE_TTL`] by default; see `refcache.rs`). Zero reads them
    /// for every registration.
    pub fn reference_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.reference.set_ttl(ttl);
        self
    }

    pub(crate) fn reference(&self) -> &RefCache {
        &self.reference
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

/// The options of both pools: a connection leaves the pool only outside any transaction.
///
/// sqlx 0.9 can put a connection back in the pool inside a transaction. `begin()` sends BEGIN
/// and counts the transaction only once BEGIN has answered; a future cancelled in between (the
/// record writer's timeout around `apply_call_ops`, an HTTP client that hangs up) drops the
/// transaction while sqlx counts none, so its guards queue no ROLLBACK, and the pool's test on
/// release only waits for the connection to be idle (transact-rs/sqlx#4393, fixed after
/// 0.9.0). The next user's transactions would still commit (their BEGIN is a no-op, their
/// COMMIT ends it), but a statement outside a transaction (a session, an audit entry, a
/// password) would run inside it, never be committed and hold its locks; and the first error
/// in it would make every later statement on that connection fail until it is closed.
///
/// So a connection taken from the pool is checked by `outside_transaction` in place of sqlx's
/// ping (`test_before_acquire`): still one round trip, and one that also proves it alive. One
/// found inside a transaction is closed (which rolls the transaction back) and another taken.
/// `tests/pg_cancellation.rs` cancels a write at every point it can wait and fails without this.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).before_acquire(outside_transaction)
}

/// True outside a transaction block. Sent as a simple query (one message), it is the first
/// statement of its own transaction, and there PostgreSQL gives transaction_timestamp() and
/// statement_timestamp() the same value (both are the time the message arrived). Inside a
/// block, transaction_timestamp() is when BEGIN arrived, at least a round trip earlier (the
/// pool read BEGIN's answer before taking the connection back), so they differ. In a failed
/// transaction the query itself fails, and the pool closes the connection for that too.
const OUTSIDE_TRANSACTION: &str = "SELECT transaction_timestamp() = statement_timestamp()";

/// `before_acquire`: whether the connection may be handed out (see `pool_options`).
fn outside_transaction(
    conn: &mut PgConnection,
    _: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        let outside: bool =
            sqlx::raw_sql(OUTSIDE_TRANSACTION).fetch_one(&mut *conn).await?.try_get(0)?;
        if !outside {
            tracing::warn!("a pooled PostgreSQL connection was left in a transaction: closed");
        }
        Ok(outside)
    })
}

/// A whole batch of registrations in one statement: data-modifying WITH clauses take the
/// numbers, then insert appeals, questions, assignments and timeline, each from the rows the
/// previous one returned. The rows come as one array per column (`unnest`), so the text never
/// changes and stays prepared. PostgreSQL only (SQLite has no data-modifying WITH): this is
/// the one registration statement the backends do not share, because each statement is a
/// round trip here; `insert_batch_statements` is the shared equivalent.
///
/// Numbers are given in batch order within each year (`row_number() OVER (PARTITION BY year
/// ORDER BY ord)`), counters locked in ascending year order; the timeline is inserted ordered
/// by appeal, then "registered" before each routed question's "assigned", so its ids read in
/// that order.
const INSERT_BATCH: &str = "\
WITH a AS (
    SELECT r.*,
        row_number() OVER (PARTITION BY r.year ORDER BY r.ord) AS nth,
        count(*) OVER (PARTITION BY r.year) AS n
    FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[],
        $7::bool[], $8::text[], $9::int8[], $10::timestamptz[], $11::timestamptz[],
        $12::timestamptz[], $13::int8[], $14::int8[], $15::text[])
        AS r(ord, year, applicant_id, channel, legal_kind, answer_channel, collective, call_id,
            operator_id, received_at, registered_at, legal_due_at, repeat_of, actor_user_id,
            actor_kind)
),
counter AS (
    INSERT INTO reg_counters (year, last_seq)
    SELECT year, count(*) FROM a GROUP BY year ORDER BY year
    ON CONFLICT (year) DO UPDATE SET last_seq = reg_counters.last_seq + excluded.last_seq
    RETURNING year, last_seq
),
numbered AS (
    SELECT a.*, c.last_seq - a.n + a.nth AS seq FROM a JOIN counter c ON c.year = a.year
),
appeals_in AS (
    INSERT INTO appeals (reg_no, reg_year, reg_seq, applicant_id, channel, legal_kind,
        answer_channel, collective, call_id, operator_id, received_at, registered_at,
        legal_due_at, repeat_of)
    SELECT lpad(year::text, 4, '0') || '-' || lpad(seq::text, 6, '0'), year, seq, applicant_id,
        channel, legal_kind, answer_channel, collective, call_id, operator_id, received_at,
        registered_at, legal_due_at, repeat_of
    FROM numbered ORDER BY ord
    RETURNING id, reg_year, reg_seq, reg_no
),
placed AS (
    SELECT n.ord, n.registered_at, n.actor_user_id, n.actor_kind, p.id AS appeal_id
    FROM numbered n JOIN appeals_in p ON p.reg_year = n.year AND p.reg_seq = n.seq
),
q AS (
    SELECT * FROM unnest($16::int8[], $17::int8[], $18::text[], $19::text[], $20::text[],
        $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::int8[],
        $27::text[], $28::text[], $29::float8[], $30::float8[], $31::text[], $32::bool[],
        $33::timestamptz[], $34::text[], $35::text[], $36::timestamptz[], $37::timestamptz[],
        $38::int8[], $39::text[], $40::int8[], $41::timestamptz[])
        AS r(ord, position, category_code, description, attributes, city, street, building,
            entrance, flat, floor, district, building_key, lat, lon, object_ref, is_emergency,
            discovered_at, nature, severity, sla_due_at, attention_at, repeat_of, search_text,
            executor_id, due_at)
),
questions_in AS (
    INSERT INTO questions (appeal_id, position, category_code, description, attributes, city,
        street, building, entrance, flat, floor, district, building_key, lat, lon, object_ref,
        is_emergency, discovered_at, nature, severity, sla_due_at, attention_at, repeat_of,
        created_at, search_text)
    SELECT p.appeal_id, q.position, q.category_code, q.description, q.attributes, q.city,
        q.street, q.building, q.entrance, q.flat, q.floor, q.district, q.building_key, q.lat,
        q.lon, q.object_ref, q.is_emergency, q.discovered_at, q.nature, q.severity,
        q.sla_due_at, q.attention_at, q.repeat_of, p.registered_at, q.search_text
    FROM q JOIN placed p ON p.ord = q.ord
    ORDER BY q.ord, q.position
    RETURNING id, appeal_id, position
),
assignments_in AS (
    INSERT INTO assignments (question_id, executor_id, state, issued_at, due_at)
    SELECT qi.id, q.executor_id, $42, p.registered_at, q.due_at
    FROM q JOIN placed p ON p.ord = q.ord
        JOIN questions_in qi ON qi.appeal_id = p.appeal_id AND qi.position = q.position
    WHERE q.executor_id IS NOT NULL
    ORDER BY q.ord, q.position
    RETURNING id, question_id
),
timeline_in AS (
    INSERT INTO timeline (appeal_id, question_id, assignment_id, actor_user_id, actor_kind,
        kind, to_state, created_at)
    SELECT appeal_id, question_id, assignment_id, actor_user_id, actor_kind, kind, to_state,
        created_at
    FROM (
        SELECT p.ord, 0::int8 AS position, p.appeal_id, NULL::int8 AS question_id,
            NULL::int8 AS assignment_id, p.actor_user_id, p.actor_kind, $43::text AS kind,
            NULL::text AS to_state, p.registered_at AS created_at
        FROM placed p
        UNION ALL
        SELECT p.ord, qi.position, p.appeal_id, qi.id, s.id, p.actor_user_id, p.actor_kind,
            $44::text, $42::text, p.registered_at
        FROM assignments_in s JOIN questions_in qi ON qi.id = s.question_id
            JOIN placed p ON p.appeal_id = qi.appeal_id
    ) e
    ORDER BY e.ord, e.position
)
SELECT 1 AS kind, id, reg_year AS k1, reg_seq AS k2, reg_no FROM appeals_in
UNION ALL SELECT 2, id, appeal_id, position, NULL FROM questions_in
UNION ALL SELECT 3, id, question_id, NULL, NULL FROM assignments_in";

impl PgStore {
    /// Writes a batch of registrations inside the batch writer's transaction, in one
    /// statement (`INSERT_BATCH`): one round trip where the shared statements take five.
    async fn insert_batch(
        conn: &mut sqlx::PgConnection,
        appeals: &[&NewAppeal],
    ) -> Result<BatchIds, Together> {
        let ord = |i: usize| i64::try_from(i).unwrap_or(i64::MAX);
        let mut b = sqlx::query_as::<_, (i32, i64, i64, Option<i64>, Option<String>)>(INSERT_BATCH)
            .bind(appeals.iter().enumerate().map(|(i, _)| ord(i)).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| i64::from(a.reg_year)).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.applicant_id).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.channel.as_str()).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.legal_kind.as_str()).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.answer_channel.map(|c| c.as_str())).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.collective).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.call_id.as_deref()).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.operator_id).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.received_at).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.registered_at).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.legal_due_at).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.repeat_of).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.actor.user_id).collect::<Vec<_>>())
            .bind(appeals.iter().map(|a| a.actor.kind.as_str()).collect::<Vec<_>>());
        let questions: Vec<(usize, usize, &NewQuestion)> = appeals
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.questions.iter().enumerate().map(move |(p, q)| (i, p, q)))
            .collect();
        let col = |f: &dyn Fn(&NewQuestion) -> Option<&str>| {
            questions.iter().map(|&(_, _, q)| f(q)).collect::<Vec<_>>()
        };
        fn addr(q: &NewQuestion) -> Option<&kontakt_appeals::Address> {
            q.address.as_ref()
        }
        b = b
            .bind(questions.iter().map(|&(i, _, _)| ord(i)).collect::<Vec<_>>())
            .bind(questions.iter().map(|&(_, p, _)| position(p)).collect::<Vec<_>>())
            .bind(col(&|q| Some(q.category_code.as_str())))
            .bind(col(&|q| Some(q.description.as_str())))
            .bind(questions.iter().map(|&(_, _, q)| to_json(&q.attributes)).collect::<Vec<_>>())
            .bind(col(&|q| addr(q).and_then(|x| x.city.as_deref())))
            .bind(col(&|q| addr(q).map(|x| x.street.as_str())))
            .bind(col(&|q| addr(q).map(|x| x.building.as_str())))
            .bind(col(&|q| addr(q).and_then(|x| x.entrance.as_deref())))
            .bind(col(&|q| addr(q).and_then(|x| x.flat.as_deref())))
            .bind(
                questions
                    .iter()
                    .map(|&(_, _, q)| addr(q).and_then(|x| x.floor.map(i64::from)))
                    .collect::<Vec<_>>(),
            )
            .bind(col(&|q| addr(q).and_then(|x| x.district.as_deref())))
            .bind(col(&|q| q.building_key.as_deref()))
            .bind(
                questions.iter().map(|&(_, _, q)| addr(q).and_then(|x| x.lat)).collect::<Vec<_>>(),
            )
            .bind(
                questions.iter().map(|&(_, _, q)| addr(q).and_then(|x| x.lon)).collect::<Vec<_>>(),
            )
            .bind(col(&|q| q.object_ref.as_deref()))
            .bind(questions.iter().map(|&(_, _, q)| q.emergency.is_some()).collect::<Vec<_>>())
            .bind(
                questions
                    .iter()
                    .map(|&(_, _, q)| q.emergency.as_ref().map(|e| e.discovered_at))
                    .collect::<Vec<_>>(),
            )
            .bind(col(&|q| q.emergency.as_ref().map(|e| e.nature.as_str())))
            .bind(col(&|q| Some(q.severity.as_str())))
            .bind(questions.iter().map(|&(_, _, q)| q.sla_due_at).collect::<Vec<_>>())
            .bind(questions.iter().map(|&(_, _, q)| q.attention_at).collect::<Vec<_>>())
            .bind(questions.iter().map(|&(_, _, q)| q.repeat_of).collect::<Vec<_>>())
            .bind(
                questions.iter().map(|&(_, _, q)| q.description.to_lowercase()).collect::<Vec<_>>(),
            )
            .bind(
                questions
                    .iter()
                    .map(|&(_, _, q)| q.assignment.as_ref().map(|s| s.executor_id))
                    .collect::<Vec<_>>(),
            )
            .bind(
                questions
                    .iter()
                    .map(|&(_, _, q)| q.assignment.as_ref().and_then(|s| s.due_at))
                    .collect::<Vec<_>>(),
            )
            .bind(kontakt_appeals::AssignmentState::Registered.as_str())
            .bind(TL_REGISTERED)
            .bind(TL_ASSIGNED);
        let rows = b.fetch_all(&mut *conn).await?;

        // Appeals: the k-th of a year in the batch has the k-th number the statement took
        // for that year.
        let mut numbered: Vec<(i64, i64, i64, Option<String>)> = Vec::new();
        let mut question_rows = Vec::new();
        let mut assignment_ids = std::collections::HashMap::new();
        for (kind, id, k1, k2, reg_no) in rows {
            match (kind, k2) {
                (1, Some(seq)) => numbered.push((k1, seq, id, reg_no)),
                (2, Some(position)) => question_rows.push((id, k1, position)),
                (3, None) => {
                    assignment_ids.insert(k1, id);
                }
                _ => return Err(mismatch()),
            }
        }
        numbered.sort_unstable();
        let mut numbers = vec![None; appeals.len()];
        let mut appeal_ids = vec![0; appeals.len()];
        let mut by_year: Vec<(i64, usize)> =
            appeals.iter().enumerate().map(|(i, a)| (i64::from(a.reg_year), i)).collect();
        by_year.sort_unstable();
        if by_year.len() != numbered.len() {
            return Err(mismatch());
        }
        for ((year, i), (reg_year, seq, id, stored)) in by_year.into_iter().zip(numbered) {
            let year32 = i32::try_from(year).map_err(|_| mismatch())?;
            let number = reg_no(year32, seq)
                .map_err(|_| Together::Retry(format!("registration numbers of {year} run out")))?;
            // The number the database formatted is the one RegNo prints.
            if reg_year != year || stored.as_deref() != Some(number.to_string().as_str()) {
                return Err(mismatch());
            }
            numbers[i] = Some(number);
            appeal_ids[i] = id;
        }
        let numbers: Vec<RegNo> =
            numbers.into_iter().collect::<Option<_>>().ok_or_else(mismatch)?;
        let by_appeal: std::collections::HashMap<i64, usize> =
            appeal_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut question_ids: Vec<Vec<Option<i64>>> =
            appeals.iter().map(|a| vec![None; a.questions.len()]).collect();
        for (id, appeal_id, position) in question_rows {
            let slot = by_appeal.get(&appeal_id).and_then(|&i| {
                let index = usize::try_from(position - 1).ok()?;
                question_ids[i].get_mut(index)
            });
            *slot.ok_or_else(mismatch)? = Some(id);
        }
        let question_ids = question_ids
            .into_iter()
            .map(|ids| ids.into_iter().collect::<Option<Vec<_>>>())
            .collect::<Option<_>>()
            .ok_or_else(mismatch)?;
        Ok(BatchIds { numbers, appeal_ids, question_ids, assignment_ids })
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
