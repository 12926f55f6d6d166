//! PostgreSQL going away, or getting slow, while calls keep coming: routing goes on from
//! memory and no call record is lost (issue 5, "Resilience").
//!
//! The FreeSWITCH emulator offers calls at a steady rate; the engine routes them to
//! simulated operators whose phones answer and who link every answered call to an outcome.
//! The engine's store reaches PostgreSQL (`KONTAKT_TEST_PG_URL`, a fresh schema per test)
//! through a TCP proxy the test controls, so the shared server itself is never touched:
//!
//! - cut: existing connections are closed; for 15 s nothing listens (connections refused,
//!   as when PostgreSQL is down), then for 15 s connections are accepted and never answered
//!   (a network partition);
//! - slow: for 30 s every chunk toward PostgreSQL waits 300 ms.
//!
//! Each test checks that calls were answered and bridged throughout, that the caller was
//! answered (which waits for the call's record to be durable) about as fast as without the
//! trouble, that the journal took the records and emptied afterwards, that the writer lost
//! and rejected nothing, and, once the calls are over, that every call placed has exactly one
//! record, its steps numbered 1..n without a gap, closed with its end and outcome.
//!
//! The bounds are functional (a median under a second where the normal is milliseconds);
//! how fast is the benchmarks' business.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use kontakt_engine::feed::OperatorEvent;
use kontakt_engine::*;
use kontakt_sim::{EndpointBehaviour, EndpointConfig, ScriptedCall};
use kontakt_store::*;

use support::proxy::{Link, Proxy};
use support::{NODE, Parts};

// ---- the center ------------------------------------------------------------------------------

const OPERATORS: usize = 40;

struct Center {
    store: Arc<dyn Store>,
    pg: Arc<PgStore>,
    engine: EngineHandle,
    emu: kontakt_sim::EmulatorHandle,
    proxy: Proxy,
    admin: sqlx::PgPool,
    schema: String,
    _dir: tempfile::TempDir,
}

/// Engine, emulator and operators on a fresh schema reached through the proxy; `None` when
/// `KONTAKT_TEST_PG_URL` is not set (outside CI).
async fn center(name: &str) -> Option<Center> {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(std::env::var("CI").is_err(), "KONTAKT_TEST_PG_URL must be set in CI");
        eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL outage test skipped");
        return None;
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let schema =
        format!("kt_outage_{name}_{}_{}", std::process::id(), Utc::now().timestamp_subsec_nanos());
    let admin =
        sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let proxy = Proxy::start(target).await;
    let pg = Arc::new(
        PgStore::connect_with(
            options
                .host("127.0.0.1")
                .port(proxy.addr.port())
                .options([("search_path", schema.as_str())]),
        )
        .await
        .unwrap(),
    );
    let store: Arc<dyn Store> = pg.clone();
    store.migrate().await.unwrap();
    let phones = (0..OPERATORS)
        .map(|i| EndpointConfig {
            user: (3000 + i).to_string(),
            behaviour: EndpointBehaviour {
                answer_after_secs: Some(0.1 + 0.05 * (i % 5) as f64),
                reject: None,
                hangup_after_secs: None,
            },
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let parts =
        Parts { store, dir, phones, supervisor: false, socket_proxy: false, attached: true };
    let support::Center { store, engine, emu, ops, dir, .. } = support::start(
        parts,
        |config| {
            config.callback_offer_after_secs = None;
            config.abandoned_callback_after_secs = None;
        },
        |_| {},
    )
    .await;
    operators(&engine, ops).await;
    Some(Center { store, pg, engine, emu, proxy, admin, schema, _dir: dir })
}

/// The operators: each links every call it answered to an outcome at once, which ends its
/// wrap-up and makes it ready for the next. They talk to the engine only, never the database.
async fn operators(engine: &EngineHandle, ops: Vec<Id>) {
    let mut feed = engine.operator_feed();
    let e = engine.clone();
    let all = ops.clone();
    tokio::spawn(async move {
        let link = |user: Id, call: String| {
            let e = e.clone();
            tokio::spawn(async move {
                let link = CallLink::Outcome("consultation".into());
                let _ = e.command(Command::Link { user, call, link }).await;
            });
        };
        loop {
            match feed.recv().await {
                Ok(m) => {
                    if let OperatorEvent::Ended { call, wrap_up: true, .. } = &m.event {
                        link(m.user_id, call.clone());
                    }
                }
                // Fell behind the feed: ask each operator what it still has to link.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for &user in &all {
                        if let Ok(Reply::Operator(s)) =
                            e.command(Command::OperatorStatus { user }).await
                            && let Some(call) = s.wrap_up_call
                        {
                            link(user, call);
                        }
                    }
                }
                Err(_) => return,
            }
        }
    });
    for user in ops {
        engine.command(Command::Ready { user }).await.unwrap();
    }
}

fn unix_us() -> u64 {
    Utc::now().timestamp_micros() as u64
}

// ---- one run ---------------------------------------------------------------------------------

/// What happened during a run, for the assertions.
struct Run {
    placed: Vec<String>,
    /// The emulator's view of each placed call.
    calls: HashMap<String, kontakt_sim::CallRecord>,
    /// (from, to) of the trouble, Unix µs.
    trouble: (u64, u64),
    /// The journal's depth, sampled every 50 ms: (Unix µs, operations).
    depth: Vec<(u64, u64)>,
}

/// Offers `rate` calls a second for `secs` seconds; `schedule` sets the link at given
/// seconds from the start. The trouble is from the first change to the return of `Up`.
async fn run(c: &Center, rate: f64, secs: f64, schedule: &[(f64, Link)]) -> Run {
    let depth = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (depth, stats) = (depth.clone(), c.engine.writer().stats().clone());
        tokio::spawn(async move {
            loop {
                let d = stats.journal_depth.load(Ordering::Relaxed);
                depth.lock().unwrap().push((unix_us(), d));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let start = tokio::time::Instant::now();
    let switch = {
        let link = c.proxy.link.clone();
        let schedule = schedule.to_vec();
        tokio::spawn(async move {
            let mut trouble = (0, 0);
            for (at, l) in schedule {
                tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
                link.send_replace(l);
                if l == Link::Up {
                    trouble.1 = unix_us();
                } else if trouble.0 == 0 {
                    trouble.0 = unix_us();
                }
                eprintln!("{:5.1} s: link {l:?}", start.elapsed().as_secs_f64());
            }
            trouble
        })
    };
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut placed = Vec::new();
    let mut next = start;
    while next < start + Duration::from_secs_f64(secs) {
        tokio::time::sleep_until(next).await;
        next += gap;
        let mut call = ScriptedCall::new(&format!("050{:07}", placed.len() + 1), "1580");
        call.digits = vec!["1".into(), "2".into()]; // Ukrainian, housing: the general queue
        call.talk_secs = Some(1.0);
        call.patience_secs = Some(20.0);
        placed.push(c.emu.place_call(&call));
    }
    let trouble = switch.await.unwrap();
    eprintln!(
        "{:5.1} s: {} calls placed; {} answered so far",
        start.elapsed().as_secs_f64(),
        placed.len(),
        c.engine.metrics().calls_answered.load(Ordering::Relaxed)
    );
    assert!(c.emu.wait_idle(Duration::from_secs(30)).await, "calls still up 30 s after the last");
    // Every record operation reaches PostgreSQL: the journal empties, the calls are closed.
    let uuids = placed.clone();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            c.engine.writer().sync().await.unwrap();
            if c.engine.writer().stats().journal_depth.load(Ordering::Relaxed) == 0
                && open_records(c, &uuids).await == Some(0)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        // The checks below say what is missing.
        eprintln!(
            "records not all in PostgreSQL and closed 30 s after the calls: journal depth {}",
            c.engine.writer().stats().journal_depth.load(Ordering::Relaxed)
        );
    });
    sampler.abort();
    let depth = depth.lock().unwrap().clone();
    if let Some((t, _)) = depth.iter().find(|(t, d)| *t > trouble.1 && *d == 0) {
        eprintln!("journal drained {:.1} s after the trouble", (t - trouble.1) as f64 / 1e6);
    }
    let calls = c.emu.report().into_iter().map(|r| (r.uuid.clone(), r)).collect();
    Run { placed, calls, trouble, depth }
}

/// How many of these calls have no record, or one not yet closed (`None`: cannot ask).
async fn open_records(c: &Center, uuids: &[String]) -> Option<i64> {
    let closed: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.calls WHERE uuid = ANY($1) AND status = 'closed'",
        c.schema
    )))
    .bind(uuids)
    .fetch_one(&c.admin)
    .await
    .ok()?;
    Some(uuids.len() as i64 - closed.0)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Whether reconciliation leaves alone the records of calls the engine handled itself (see
/// the last test); it does since `reconcile` skips them, so every test fails on a record it
/// closes wrongly.
const RECONCILIATION_FIXED: bool = true;

/// What every run must show; `what` names the trouble in messages. With `strict`, also
/// that reconciliation closed no record of a call Kontakt handled to its end.
async fn check(c: &Center, r: &Run, what: &str, strict: bool) {
    let (from, to) = r.trouble;
    assert!(from > 0 && to > from, "the schedule makes trouble and ends it");
    let secs = (to - from) as f64 / 1e6;

    // Routing went on: operators' phones were bridged to callers throughout the trouble.
    let bridged: Vec<u64> =
        r.calls.values().map(|p| p.bridged_us).filter(|&b| b >= from && b < to).collect();
    let slices = (secs / 5.0).floor() as u64;
    for i in 0..slices {
        let (a, b) = (from + i * 5_000_000, from + (i + 1) * 5_000_000);
        let n = bridged.iter().filter(|&&t| t >= a && t < b).count();
        assert!(n >= 5, "{what}: only {n} calls bridged in seconds {}–{} of it", i * 5, i * 5 + 5);
    }
    let placed_during = r
        .placed
        .iter()
        .filter(|u| r.calls[*u].created_us >= from && r.calls[*u].created_us < to)
        .count();
    assert!(
        bridged.len() * 2 >= placed_during,
        "{what}: {} bridged while {placed_during} calls came in",
        bridged.len()
    );

    // The caller is answered once the call's record is durable: that waited for neither the
    // database nor its timeout (normally milliseconds).
    let waits: Vec<u64> = r
        .placed
        .iter()
        .map(|u| &r.calls[u])
        .filter(|p| p.created_us >= from && p.created_us < to && p.answered_us > 0)
        .map(|p| p.answered_us - p.created_us)
        .collect();
    let (med, max) = (median(waits.clone()), waits.iter().copied().max().unwrap_or(0));
    let before = median(
        r.calls
            .values()
            .filter(|p| p.created_us < from && p.answered_us > 0)
            .map(|p| p.answered_us - p.created_us)
            .collect(),
    );
    eprintln!(
        "{what}: {} bridged in {secs:.0} s; {} callers answered after {} ms (median; {} ms \
         before), {} ms (max)",
        bridged.len(),
        waits.len(),
        med / 1000,
        before / 1000,
        max / 1000
    );
    assert!(waits.len() * 10 >= placed_during * 9, "{what}: callers not answered");
    // A second more than before the trouble, whatever the machine's load: waiting for the
    // database's timeout (3 s) would show.
    assert!(
        med < before + 1_000_000,
        "{what}: callers waited {} ms (median) for their record, {} ms before",
        med / 1000,
        before / 1000
    );
    assert!(max < 10_000_000, "{what}: a caller waited {} ms for their record", max / 1000);

    // The journal took the records while the database could not, and is empty again.
    let during = r.depth.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, d)| *d);
    let peak = during.max().unwrap_or(0);
    eprintln!("{what}: journal peak depth {peak} operations");
    assert!(peak >= 100, "{what}: the journal never held the records ({peak})");
    let stats = c.engine.writer().stats();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 0, "{what}: journal not drained");
    assert_eq!(stats.lost.load(Ordering::Relaxed), 0, "{what}: records lost");
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 0, "{what}: records rejected");
    assert!(stats.db_up.load(Ordering::Relaxed));

    // Exactly one record per call placed, and no other.
    let (rows, distinct): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(DISTINCT uuid) FROM {}.calls",
        c.schema
    )))
    .fetch_one(&c.admin)
    .await
    .unwrap();
    assert_eq!((rows, distinct), (r.placed.len() as i64, r.placed.len() as i64), "{what}");

    // Each record whole: steps 1..n, ended, closed with its reason; answered calls linked.
    let mut answered = 0;
    // Records whose real end was overwritten by reconciliation (see the last test).
    let mut closed_away = Vec::new();
    for uuid in &r.placed {
        let key = CallKey { node: NODE.into(), uuid: uuid.clone() };
        let rec = c.store.call_record(&key).await.unwrap().expect("a record for every call");
        let p = &r.calls[uuid];
        let seqs: Vec<i64> = rec.steps.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{what}: {rec:?}");
        let kinds: Vec<&str> = rec.steps.iter().map(|s| s.kind.as_str()).collect();
        assert!(kinds.contains(&"ivr") && kinds.contains(&"hangup"), "{what}: {rec:?}");
        assert_eq!(rec.status, CallStatus::Closed, "{what}: {rec:?}");
        assert!(rec.ended_at.is_some() && rec.hangup_cause.is_some(), "{what}: {rec:?}");
        assert!(rec.queued_at.is_some(), "{what}: {rec:?}");
        if rec.end_reason.as_deref() == Some("ended_while_kontakt_away") {
            closed_away.push(uuid.clone());
            continue;
        }
        if p.bridged_us > 0 {
            answered += 1;
            assert!(rec.connected_at.is_some() && rec.agent_user_id.is_some(), "{what}: {rec:?}");
            assert!(rec.talk_ms.is_some() && rec.wrap_ms.is_some(), "{what}: {rec:?}");
            assert_eq!(rec.end_reason.as_deref(), Some("completed"), "{what}: {rec:?}");
            assert_eq!(rec.link, Some(CallLink::Outcome("consultation".into())), "{what}");
            assert!(kinds.contains(&"connected"), "{what}: {rec:?}");
        } else {
            assert_eq!(rec.connected_at, None, "{what}: {rec:?}");
            assert_eq!(rec.end_reason.as_deref(), Some("abandoned"), "{what}: {rec:?}");
        }
    }
    assert!(
        answered * 10 + closed_away.len() * 10 >= r.placed.len() * 9,
        "{what}: {answered} of {} calls answered",
        r.placed.len()
    );
    if !closed_away.is_empty() {
        eprintln!(
            "{what}: {} records closed by reconciliation as ended_while_kontakt_away",
            closed_away.len()
        );
    }
    assert!(
        !strict || closed_away.is_empty(),
        "{what}: reconciliation closed {} records as ended_while_kontakt_away although Kontakt \
         handled those calls to their end (their last operations were still in the journal): \
         {:?}",
        closed_away.len(),
        &closed_away[..closed_away.len().min(5)]
    );
}

async fn finish(c: Center) {
    c.engine.shutdown();
    drop(c.store);
    // Closing the pool ends any transaction a write abandoned on its timeout left open on a
    // pooled connection (sqlx 0.9 loses track of one cancelled inside `BEGIN`); its locks
    // would hold the `DROP SCHEMA` below forever.
    c.pg.pool().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", c.schema)))
        .execute(&c.admin)
        .await
        .unwrap();
}

// ---- the tests -------------------------------------------------------------------------------

/// 12 calls a second for 50 s; PostgreSQL is unreachable from 8 s to 38 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_second_database_outage_under_load_loses_no_record() {
    let Some(c) = center("cut").await else { return };
    let schedule = [(8.0, Link::Refused), (23.0, Link::BlackHole), (38.0, Link::Up)];
    let r = run(&c, 12.0, 50.0, &schedule).await;
    check(&c, &r, "the outage", RECONCILIATION_FIXED).await;
    finish(c).await;
}

/// 12 calls a second for 46 s; every round trip to PostgreSQL takes 300 ms more from 8 s to
/// 38 s. The engine never waits for the database: answer → bridge stays short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_under_load_slows_no_call_and_loses_no_record() {
    let Some(c) = center("slow").await else { return };
    let schedule = [(8.0, Link::Slow(Duration::from_millis(300))), (38.0, Link::Up)];
    let r = run(&c, 12.0, 46.0, &schedule).await;
    check(&c, &r, "the slowness", RECONCILIATION_FIXED).await;
    let m = c.engine.metrics();
    let (p50, p99, max) = m.answer_to_bridge.percentiles().expect("bridges measured");
    eprintln!("answer → bridge: p50 {p50} µs, p99 {p99} µs, max {max} µs");
    assert!(p99 < 1_000_000, "answer → bridge p99 {p99} µs: routing waited for the database");
    finish(c).await;
}

/// Reconciliation (every minute, and whenever a control connection opens) reads the live
/// records from the database. While a call's last operations still wait in the journal, the
/// database says it is live although it has ended, and the engine, which no longer tracks
/// it, closes it as `ended_while_kontakt_away` behind its real end: when the journal drains,
/// that overwrites how the call really ended. Here the database is slow (reads answer,
/// writes wait in the journal) when the minute's reconciliation comes, about 60 s after the
/// engine started.
///
/// It failed (57–102 records closed wrongly) until `reconcile` in `engine.rs` left alone the
/// records of calls the engine handled itself (those that started after it did) and held
/// off while the journal holds writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_while_records_wait_in_the_journal_keeps_how_calls_ended() {
    let Some(c) = center("reconcile").await else { return };
    let schedule = [(45.0, Link::Slow(Duration::from_millis(300))), (68.0, Link::Up)];
    let r = run(&c, 6.0, 70.0, &schedule).await;
    let closed_away: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.calls WHERE end_reason = 'ended_while_kontakt_away'",
        c.schema
    )))
    .fetch_one(&c.admin)
    .await
    .unwrap();
    let reconciled = c.engine.metrics().calls_reconciled_closed.load(Ordering::Relaxed);
    eprintln!("{} records closed by reconciliation ({reconciled} counted)", closed_away.0);
    check(&c, &r, "the slowness at reconciliation", true).await;
    assert_eq!(reconciled, 0, "no call ended while Kontakt was away");
    finish(c).await;
}
