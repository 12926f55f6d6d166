//! Appeals registry at scale: registration throughput and lookup-by-phone latency with
//! 1,000,000 appeals stored, on SQLite and on PostgreSQL.
//!
//! `cargo bench -p kontakt --bench registry -- [--appeals N] [--backend sqlite|postgres|both]
//! [--tasks N] [--per-transaction]`
//! PostgreSQL comes from `KONTAKT_TEST_PG_URL` (a fresh schema, dropped afterwards).
//! `--tasks` is how many tasks register concurrently (default 8). `--per-transaction` fills
//! with group commit off: one transaction per registration, the path before group commit.
//! After the fill, both paths register a further batch of appeals on the same database, one
//! after the other, with the same callers and then with one sequential caller: the ratio
//! between them is measured at full size and in the same conditions.
//! Baseline measured in the same run: a trivial indexed query (`count_users`) on the same
//! pool, so the ratio shows what the lookup costs beyond a database round trip.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // a benchmark program reports on stdout

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, SubsecRound, Utc};
use kontakt_appeals::{
    ActorKind, Address, AnswerChannel, ApplicantKind, AssuranceLevel, Channel, LegalKind,
};
use kontakt_store::{
    Actor, ApplicantQuery, NewAppeal, NewApplicant, NewAssignment, NewQuestion, Store,
};
use kontakt_web::dto::{AddressDto, NewAppealRequest, NewQuestionRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const APPEALS_PER_APPLICANT: usize = 5;

struct Args {
    appeals: usize,
    backends: Vec<&'static str>,
    tasks: usize,
    group_commit: bool,
}

fn args() -> Args {
    let mut a = Args {
        appeals: 1_000_000,
        backends: vec!["sqlite", "postgres"],
        tasks: 8,
        group_commit: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--appeals" => a.appeals = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.appeals),
            "--backend" => {
                a.backends = match it.next().as_deref() {
                    Some("sqlite") => vec!["sqlite"],
                    Some("postgres") => vec!["postgres"],
                    _ => vec!["sqlite", "postgres"],
                }
            }
            "--tasks" => {
                a.tasks =
                    it.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(a.tasks)
            }
            "--per-transaction" => a.group_commit = false,
            _ => {} // cargo passes --bench
        }
    }
    a
}

fn phone(i: usize) -> String {
    format!("+38050{:07}", i)
}

/// `n` registrations through `kontakt_web::registration::register` (the API's path minus
/// HTTP) from `callers` tasks; returns the time they took.
async fn full_path(store: Arc<dyn Store>, callers: usize, n: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..callers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                let req = NewAppealRequest {
                    applicant_id: None,
                    applicant: None,
                    channel: Channel::Phone,
                    legal_kind: LegalKind::IncidentReport,
                    received_at: None,
                    answer_channel: None,
                    collective: false,
                    call_id: None,
                    questions: vec![NewQuestionRequest {
                        category_code: "water.no_cold_water".into(),
                        description: "Немає холодної води".into(),
                        attributes: serde_json::json!({"scope": "building"}),
                        address: Some(AddressDto {
                            city: None,
                            street: format!("вул. Тестова {}", i % 997),
                            building: (i % 113).to_string(),
                            entrance: None,
                            flat: None,
                            floor: None,
                            district: None,
                            lat: None,
                            lon: None,
                        }),
                        object_ref: None,
                        emergency: None,
                    }],
                };
                kontakt_web::registration::register(
                    store.as_ref(),
                    Actor { user_id: None, kind: ActorKind::System },
                    req,
                )
                .await
                .unwrap();
                i += callers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Three stores on one database: group commit on, and off (one transaction per
/// registration); and with group commit but without the reference cache (the category tree
/// and the responsibility map read for every registration), the full path's baseline.
struct Stores {
    grouped: Arc<dyn Store>,
    alone: Arc<dyn Store>,
    uncached: Arc<dyn Store>,
}

impl Stores {
    fn pick(&self, group_commit: bool) -> Arc<dyn Store> {
        if group_commit { self.grouped.clone() } else { self.alone.clone() }
    }
}

async fn open(backend: &str, dir: &std::path::Path) -> Option<(Stores, Option<(String, String)>)> {
    match backend {
        "sqlite" => {
            // Two writer connections on one file: only one store writes at a time here.
            let url = format!("sqlite://{}/bench.db", dir.display());
            let grouped = kontakt_store::SqliteStore::open(&url).await.unwrap();
            let alone = kontakt_store::SqliteStore::open(&url).await.unwrap().group_commit(false);
            let uncached =
                kontakt_store::SqliteStore::open(&url).await.unwrap().reference_ttl(Duration::ZERO);
            let stores = Stores {
                grouped: Arc::new(grouped),
                alone: Arc::new(alone),
                uncached: Arc::new(uncached),
            };
            Some((stores, None))
        }
        _ => {
            let url = std::env::var("KONTAKT_TEST_PG_URL").ok()?;
            let schema = format!("kt_bench_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .unwrap();
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let grouped = kontakt_store::PgStore::connect_with(options.clone()).await.unwrap();
            let alone = kontakt_store::PgStore::connect_with(options.clone())
                .await
                .unwrap()
                .group_commit(false);
            let uncached = kontakt_store::PgStore::connect_with(options)
                .await
                .unwrap()
                .reference_ttl(Duration::ZERO);
            let stores = Stores {
                grouped: Arc::new(grouped),
                alone: Arc::new(alone),
                uncached: Arc::new(uncached),
            };
            Some((stores, Some((url, schema))))
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = args();
    println!(
        "registry benchmark: {} appeals, {} tasks, {}",
        args.appeals,
        args.tasks,
        if args.group_commit { "group commit" } else { "one transaction per registration" }
    );
    for backend in args.backends.clone() {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let Some((stores, schema)) = open(backend, dir.path()).await else {
            println!("\n[{backend}] skipped: KONTAKT_TEST_PG_URL is not set");
            continue;
        };
        stores.grouped.migrate().await.unwrap();
        kontakt_web::seed::reference(stores.grouped.as_ref()).await.unwrap();
        kontakt_web::seed::executors(stores.grouped.as_ref()).await.unwrap();
        run(backend, &stores, &args).await;
        drop(stores);
        if let Some((url, schema)) = schema {
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

async fn run(backend: &str, stores: &Stores, args: &Args) {
    let (appeals, callers) = (args.appeals, args.tasks);
    let store = stores.pick(args.group_commit);
    let applicants = appeals.div_ceil(APPEALS_PER_APPLICANT);

    // 1. Fill: store-level registration (counter, appeal, question, assignment, timeline),
    // with one new applicant every fifth appeal.
    let fill = register_range(store.clone(), 0, appeals, callers).await;
    let stored = store.count_appeals().await.unwrap();
    println!("\n[{backend}] {stored} appeals stored, {applicants} applicants");
    println!(
        "  store-level registration ({}, {callers} tasks): {:.0} appeals/s ({:.1} s for {appeals}, incl. {applicants} applicants)",
        if args.group_commit { "group commit" } else { "one transaction per registration" },
        appeals as f64 / fill.as_secs_f64(),
        fill.as_secs_f64()
    );

    // 1b. Both paths at that size, one after the other: the same callers, then one.
    let mut next = appeals;
    for (callers, n) in [(callers, (appeals / 10).clamp(1_000, 20_000)), (1, 2_000)] {
        let mut rates = Vec::new();
        for group_commit in [true, false] {
            let took = register_range(stores.pick(group_commit), next, n, callers).await;
            next += n;
            rates.push(n as f64 / took.as_secs_f64());
        }
        println!(
            "  {n} more, {callers} tasks: group commit {:.0} appeals/s, one transaction per registration {:.0} appeals/s ({:.2}x)",
            rates[0],
            rates[1],
            rates[0] / rates[1]
        );
    }

    // 2. Full path at that size: validation, repeat and duplicate lookups, routing, write.
    // First without the reference cache (the baseline), then with it: the second run finds
    // more earlier questions at the same buildings, so the order does not favour the cache.
    let n = 5_000;
    let uncached = full_path(stores.uncached.clone(), callers, n).await;
    let cached = full_path(store.clone(), callers, n).await;
    println!(
        "  full registration path (domain + store), {n} each: {:.0} appeals/s with the reference cache, {:.0} appeals/s reading the tree and the map every time ({:.2}x)",
        n as f64 / cached.as_secs_f64(),
        n as f64 / uncached.as_secs_f64(),
        uncached.as_secs_f64() / cached.as_secs_f64()
    );

    // 3. Lookup by phone, as the API's applicant search does it; and the baseline.
    let mut rng = StdRng::seed_from_u64(7);
    let mut lookups = Vec::with_capacity(10_000);
    let mut baseline = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        // Applicants were created at i = callers * APPEALS_PER_APPLICANT * m + t.
        let stride = callers * APPEALS_PER_APPLICANT;
        let i = loop {
            let i = stride * rng.random_range(0..appeals.div_ceil(stride))
                + rng.random_range(0..callers);
            if i < appeals {
                break i;
            }
        };
        let p = phone(i);
        let q = ApplicantQuery { phone: Some(p), limit: 20, ..Default::default() };
        let t = Instant::now();
        let found = store.find_applicants(&q).await.unwrap();
        lookups.push(t.elapsed());
        assert_eq!(found.len(), 1);
        let t = Instant::now();
        store.count_users().await.unwrap();
        baseline.push(t.elapsed());
    }
    lookups.sort();
    baseline.sort();
    let (p50, p99, max) =
        (percentile(&lookups, 0.5), percentile(&lookups, 0.99), lookups[lookups.len() - 1]);
    let (b50, b99) = (percentile(&baseline, 0.5), percentile(&baseline, 0.99));
    println!(
        "  lookup by phone: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "  baseline (trivial query, same pool): p50 {:.3} ms, p99 {:.3} ms; lookup/baseline p50 {:.1}x, p99 {:.1}x",
        ms(b50),
        ms(b99),
        p50.as_secs_f64() / b50.as_secs_f64(),
        p99.as_secs_f64() / b99.as_secs_f64()
    );
}

/// Registers appeals `from..from + count` through `Store::register_appeal` from `callers`
/// tasks, each creating a new applicant (with a phone) before every fifth of its appeals;
/// returns the time it took.
async fn register_range(
    store: Arc<dyn Store>,
    from: usize,
    count: usize,
    callers: usize,
) -> Duration {
    let executor = store.executors().await.unwrap()[0].id;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..callers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut applicant_id = None;
            let mut j = t;
            while j < count {
                let i = from + j;
                let at = Utc::now().trunc_subsecs(6);
                let addr = Address {
                    city: None,
                    street: format!("вул. Тестова {}", i % 997),
                    building: (i % 113).to_string(),
                    entrance: None,
                    flat: Some((i % 200).to_string()),
                    floor: None,
                    district: None,
                    lat: None,
                    lon: None,
                };
                if (j / callers).is_multiple_of(APPEALS_PER_APPLICANT) {
                    let a = store
                        .create_applicant(
                            NewApplicant {
                                last_name: Some(format!("Прізвище{i}")),
                                first_name: Some("Ім'я".into()),
                                patronymic: None,
                                email: None,
                                kind: ApplicantKind::Individual,
                                privileges: Vec::new(),
                                confidential: false,
                                assurance: AssuranceLevel::None,
                                address: Some(addr.clone()),
                                phones: vec![phone(i)],
                            },
                            at,
                        )
                        .await
                        .unwrap();
                    applicant_id = Some(a.id);
                }
                store
                    .register_appeal(NewAppeal {
                        // A few years of history: one year holds at most 999,999 numbers.
                        reg_year: 2023 + i32::try_from(i % 3).unwrap(),
                        applicant_id,
                        channel: Channel::Phone,
                        legal_kind: LegalKind::Complaint,
                        answer_channel: Some(AnswerChannel::Phone),
                        collective: false,
                        call_id: None,
                        operator_id: None,
                        received_at: at,
                        registered_at: at,
                        legal_due_at: Some(at + Span::days(15)),
                        repeat_of: None,
                        questions: vec![NewQuestion {
                            category_code: "water.no_cold_water".to_string(),
                            description: format!("Немає води, звернення {i}"),
                            attributes: serde_json::json!({"scope": "building"}),
                            building_key: Some(addr.building_key()),
                            address: Some(addr),
                            object_ref: None,
                            emergency: None,
                            severity: kontakt_appeals::Severity::P1,
                            sla_due_at: Some(at + Span::hours(24)),
                            attention_at: Some(at + Span::hours(18)),
                            repeat_of: None,
                            assignment: Some(NewAssignment { executor_id: executor, due_at: None }),
                        }],
                        actor: Actor { user_id: None, kind: ActorKind::System },
                    })
                    .await
                    .unwrap();
                j += callers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}
