//! Group commit seen from the outside: concurrent `register_appeal` calls share transactions,
//! yet each caller gets what it would get alone. Every test runs once on SQLite and once on
//! PostgreSQL (`KONTAKT_TEST_PG_URL`), like the contract suite.
//!
//! Batches form by themselves here: the callers start together behind a barrier, so those
//! that arrive while one batch is being written make up the next. The in-crate tests of
//! `sql.rs` (`batch_tests`) write batches made up front, for the cases that need one exact
//! batch (a year running out of numbers, a caller that gave up).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use kontakt_appeals::{ActorKind, Category, Channel, LegalKind, LegalTrack, Severity};
use kontakt_store::*;
use tokio::sync::Barrier;

// ---- harness (as in contract.rs) ---------------------------------------------------------

struct Harness {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl Harness {
    async fn finish(self) {
        if let Some((url, schema)) = self.pg_schema {
            drop(self.store);
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = kontakt_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    Harness { store, _dir: Some(dir), pg_schema: None }
}

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

async fn postgres() -> Option<Harness> {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "KONTAKT_TEST_PG_URL must be set in CI: the contract has to run on PostgreSQL"
        );
        eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL half skipped");
        return None;
    };
    let schema = format!(
        "kt_gc_{}_{}_{}",
        std::process::id(),
        SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_subsec_nanos()
    );
    let admin = sqlx::PgPool::connect(&url).await.expect("connect to KONTAKT_TEST_PG_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    Some(Harness { store: Arc::new(store), _dir: None, pg_schema: Some((url, schema)) })
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = super::sqlite().await;
                super::$name(h.store.clone()).await;
                h.finish().await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(h) = super::postgres().await else { return };
                super::$name(h.store.clone()).await;
                h.finish().await;
            })*
        }
    };
}

both_backends!(
    one_failing_registration_among_concurrent_ones_fails_alone,
    registrations_after_failures_reuse_no_number_and_skip_none,
    concurrent_registrations_store_exactly_what_they_return,
);

// ---- fixtures ---------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn reference(store: &dyn Store) -> Id {
    for (code, parent, leaf) in [
        ("water", None, false),
        ("water.no_cold_water", Some("water"), true),
        ("lifts", None, false),
        ("lifts.stuck", Some("lifts"), true),
    ] {
        store
            .upsert_category(Category {
                code: code.into(),
                parent_code: parent.map(Into::into),
                name_uk: format!("Категорія {code}"),
                name_en: None,
                is_emergency: false,
                severity: Severity::P2,
                sla_hours: Some(24),
                attention_pct: 75,
                legal_track: LegalTrack::Art20Short,
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
    store.create_executor(executor, t("2025-01-01T00:00:00Z")).await.unwrap().id
}

fn question(code: &str, executor: Option<Id>, at: DateTime<Utc>) -> NewQuestion {
    NewQuestion {
        category_code: code.into(),
        description: format!("Питання {code}"),
        attributes: serde_json::json!({"scope": "building"}),
        address: None,
        building_key: Some("вул. перемоги|12".into()),
        object_ref: None,
        emergency: None,
        severity: Severity::P1,
        sla_due_at: Some(at + Duration::hours(24)),
        attention_at: Some(at + Duration::hours(18)),
        repeat_of: None,
        assignment: executor.map(|executor_id| NewAssignment { executor_id, due_at: None }),
    }
}

fn appeal(year: i32, questions: Vec<NewQuestion>, at: DateTime<Utc>) -> NewAppeal {
    NewAppeal {
        reg_year: year,
        applicant_id: None,
        channel: Channel::Phone,
        legal_kind: LegalKind::Complaint,
        answer_channel: None,
        collective: false,
        call_id: Some("c0ffee".into()),
        operator_id: None,
        received_at: at,
        registered_at: at,
        legal_due_at: Some(at + Duration::days(15)),
        repeat_of: None,
        questions,
        actor: Actor { user_id: None, kind: ActorKind::System },
    }
}

/// Registers all `appeals` at once (each from its own task, released together) and returns
/// each one's result, in the order given.
async fn all_at_once(store: &Arc<dyn Store>, appeals: Vec<NewAppeal>) -> Vec<Result<Appeal>> {
    let barrier = Arc::new(Barrier::new(appeals.len()));
    let tasks: Vec<_> = appeals
        .into_iter()
        .map(|a| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.register_appeal(a).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

// ---- the tests --------------------------------------------------------------------------

async fn one_failing_registration_among_concurrent_ones_fails_alone(store: Arc<dyn Store>) {
    let executor = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    // 30 callers at once; three name a category that does not exist (in their second
    // question, after one that is written), three an executor that does not exist.
    let appeals: Vec<NewAppeal> = (0..30)
        .map(|i| match i % 10 {
            3 => appeal(
                2026,
                vec![question("lifts.stuck", None, at), question("no.such", Some(executor), at)],
                at,
            ),
            7 => appeal(2026, vec![question("water.no_cold_water", Some(4242), at)], at),
            _ => appeal(2026, vec![question("water.no_cold_water", Some(executor), at)], at),
        })
        .collect();
    let results = all_at_once(&store, appeals).await;
    let mut numbers = BTreeSet::new();
    for (i, r) in results.iter().enumerate() {
        match (i % 10, r) {
            (3 | 7, Err(StoreError::MissingReference(_))) => {}
            (3 | 7, other) => {
                panic!("registration {i}: expected a missing reference, got {other:?}")
            }
            (_, Ok(a)) => assert!(numbers.insert(a.reg_no.seq), "number {} given twice", a.reg_no),
            (_, Err(e)) => panic!("registration {i} failed: {e}"),
        }
    }
    assert_eq!(numbers, (1..=24).collect::<BTreeSet<u32>>(), "consecutive, from 1");
    assert_eq!(store.count_appeals().await.unwrap(), 24, "the failed ones left nothing");
    let listed = store.list_appeals(&AppealFilter { limit: 100, ..Default::default() }).await;
    assert_eq!(listed.unwrap().len(), 24);
    // The next registration takes the next number.
    let next = store
        .register_appeal(appeal(2026, vec![question("lifts.stuck", None, at)], at))
        .await
        .unwrap();
    assert_eq!(next.reg_no.to_string(), "2026-000025");
}

async fn registrations_after_failures_reuse_no_number_and_skip_none(store: Arc<dyn Store>) {
    let executor = reference(store.as_ref()).await;
    let at = t("2026-12-31T20:00:00Z");
    let good = |year| appeal(year, vec![question("water.no_cold_water", Some(executor), at)], at);
    let bad = |year| appeal(year, vec![question("no.such", None, at)], at);
    let mut given: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    let mut expected: BTreeMap<i32, u32> = BTreeMap::new();
    // Rounds of concurrent callers over two years, failures mixed in, then a lone caller
    // after a lone failure.
    for round in 0..5 {
        let appeals: Vec<(bool, NewAppeal)> = (0..12)
            .map(|i| {
                let year = if (i + round) % 3 == 0 { 2027 } else { 2026 };
                if (i + round) % 4 == 1 { (false, bad(year)) } else { (true, good(year)) }
            })
            .collect();
        for (ok, a) in &appeals {
            if *ok {
                *expected.entry(a.reg_year).or_default() += 1;
            }
        }
        let oks: Vec<bool> = appeals.iter().map(|(ok, _)| *ok).collect();
        let results = all_at_once(&store, appeals.into_iter().map(|(_, a)| a).collect()).await;
        for (ok, r) in oks.into_iter().zip(results) {
            match (ok, r) {
                (true, Ok(a)) => given.entry(a.reg_no.year).or_default().push(a.reg_no.seq),
                (false, Err(StoreError::MissingReference(_))) => {}
                (ok, r) => panic!("round {round}: expected ok = {ok}, got {r:?}"),
            }
        }
        assert!(matches!(
            store.register_appeal(bad(2026)).await,
            Err(StoreError::MissingReference(_))
        ));
        let a = store.register_appeal(good(2026)).await.unwrap();
        *expected.entry(2026).or_default() += 1;
        given.entry(2026).or_default().push(a.reg_no.seq);
        let highest = given[&2026].iter().max().copied();
        assert_eq!(Some(a.reg_no.seq), highest, "a lone caller after a failure takes the next");
    }
    for (year, mut seqs) in given {
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=expected[&year]).collect::<Vec<u32>>(), "{year}: gap-free");
    }
    let total: u32 = expected.values().sum();
    assert_eq!(store.count_appeals().await.unwrap(), i64::from(total));
}

async fn concurrent_registrations_store_exactly_what_they_return(store: Arc<dyn Store>) {
    let executor = reference(store.as_ref()).await;
    let at = t("2026-05-31T21:30:00.123456Z");
    // Different shapes in one go: several questions, some routed and some not, none at all.
    let appeals: Vec<NewAppeal> = (0..20)
        .map(|i| {
            let questions = match i % 4 {
                0 => vec![question("water.no_cold_water", Some(executor), at)],
                1 => vec![
                    question("water.no_cold_water", Some(executor), at),
                    question("lifts.stuck", None, at),
                    question("lifts.stuck", Some(executor), at),
                ],
                2 => vec![question("lifts.stuck", None, at)],
                _ => Vec::new(),
            };
            let mut a = appeal(2026, questions, at + Duration::seconds(i));
            a.call_id = Some(format!("call-{i}"));
            a
        })
        .collect();
    let results = all_at_once(&store, appeals.clone()).await;
    for (sent, r) in appeals.iter().zip(results) {
        let saved = r.unwrap();
        assert_eq!(saved.call_id, sent.call_id, "each caller gets its own appeal");
        assert_eq!(saved.received_at, sent.received_at);
        assert_eq!(saved.questions.len(), sent.questions.len());
        assert_eq!(store.appeal(saved.id).await.unwrap(), saved);
        assert_eq!(store.appeal_by_reg_no(saved.reg_no).await.unwrap(), saved);
        let timeline = store.timeline(saved.id).await.unwrap();
        let mut kinds = vec![("registered".to_string(), None)];
        for q in &saved.questions {
            for s in &q.assignments {
                kinds.push(("assigned".to_string(), Some(s.id)));
            }
        }
        let got: Vec<(String, Option<Id>)> =
            timeline.into_iter().map(|e| (e.kind, e.assignment_id)).collect();
        assert_eq!(got, kinds, "timeline of {}", saved.reg_no);
    }
}
