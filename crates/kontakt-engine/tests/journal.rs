//! The record writer when the database is away: records wait in the durable journal, in
//! order, and reach the database when it returns — also across a restart of Kontakt.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use kontakt_engine::{JournalConfig, RecordWriter};
use kontakt_store::*;
use sqlx::Connection as _;

fn key(uuid: &str) -> CallKey {
    CallKey { node: "fs1".into(), uuid: uuid.into() }
}

fn open(uuid: &str) -> CallOp {
    CallOp::Open(NewCallRecord {
        key: key(uuid),
        direction: "inbound".into(),
        caller: None,
        caller_raw: "anonymous".into(),
        presentation: "anonymous".into(),
        dialled: "1580".into(),
        line: None,
        carrier: None,
        started_at: Utc::now(),
    })
}

fn step(uuid: &str, seq: i64) -> CallOp {
    CallOp::Step {
        key: key(uuid),
        seq,
        at: Utc::now(),
        kind: "ivr".into(),
        detail: serde_json::json!({"n": seq}),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_wait_in_the_journal_while_the_database_is_locked_and_drain_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let url = format!("sqlite://{}", db.display());
    let store = kontakt_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let cfg = JournalConfig {
        db_timeout: Duration::from_millis(300),
        retry_every: Duration::from_millis(100),
        ..JournalConfig::in_dir(dir.path().join("journal"))
    };
    let writer = RecordWriter::start(store.clone(), cfg.clone()).await.unwrap();
    // Another process holds the database's write lock: Kontakt's writes cannot commit.
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();

    // Durable anyway: the call's opening record is in the journal.
    writer.write_durable(vec![open("a")]).await.unwrap();
    let stats = writer.stats().clone();
    assert!(stats.journal_depth.load(Ordering::Relaxed) >= 1);
    for seq in 1..=20 {
        writer.write(vec![step("a", seq)]);
    }
    writer.sync().await.unwrap();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 21, "everything behind the first");
    assert!(!stats.db_up.load(Ordering::Relaxed));
    assert!(std::fs::metadata(dir.path().join("journal/calls.jsonl")).unwrap().len() > 0);

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    until("the journal to drain", || stats.journal_depth.load(Ordering::Relaxed) == 0).await;
    let r = store.call_record(&key("a")).await.unwrap().expect("record reached the database");
    let seqs: Vec<i64> = r.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert_eq!(stats.lost.load(Ordering::Relaxed), 0);
}

/// A database that answers, but slowly, slows no caller: a write somebody waits on gets the
/// database for `durable_within`, then goes to the journal; the rest follow it there until
/// the database is quick again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_write_waits_for_a_slow_database_no_longer_than_durable_within() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let store = kontakt_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let cfg = JournalConfig {
        // Long enough that waiting for it, or for SQLite's own 10 s busy timeout, shows.
        db_timeout: Duration::from_secs(30),
        durable_within: Duration::from_millis(200),
        retry_every: Duration::from_millis(100),
        ..JournalConfig::in_dir(dir.path().join("journal"))
    };
    let writer = RecordWriter::start(store.clone(), cfg).await.unwrap();
    let stats = writer.stats().clone();
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();

    // While the lock is held: durable (journaled) within seconds, not after the timeouts.
    tokio::time::timeout(Duration::from_secs(3), writer.write_durable(vec![open("c")]))
        .await
        .expect("the caller waited for the slow database")
        .unwrap();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 1, "journaled");
    for seq in 1..=5 {
        writer.write(vec![step("c", seq)]);
    }
    tokio::time::timeout(Duration::from_secs(3), writer.sync())
        .await
        .expect("later writes went behind the journal, not to the database")
        .unwrap();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 6);

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    until("the journal to drain", || stats.journal_depth.load(Ordering::Relaxed) == 0).await;
    let r = store.call_record(&key("c")).await.unwrap().expect("record reached the database");
    assert_eq!(r.steps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(stats.lost.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_left_by_a_crash_is_replayed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let store = kontakt_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let jdir = dir.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    // What a Kontakt killed while the database was away leaves behind, including a line
    // torn by the crash and an operation that had already reached the database.
    store.apply_call_ops(&[open("b")]).await.unwrap();
    let mut text = String::new();
    for op in [open("b"), step("b", 1), step("b", 2)] {
        text.push_str(&serde_json::to_string(&op).unwrap());
        text.push('\n');
    }
    text.push_str("{\"op\":\"step\",\"key\":{\"no");
    std::fs::write(jdir.join("calls.jsonl"), text).unwrap();

    let writer = RecordWriter::start(store.clone(), JournalConfig::in_dir(&jdir)).await.unwrap();
    writer.write_durable(vec![step("b", 3)]).await.unwrap();
    let stats = writer.stats().clone();
    until("the old journal to drain", || stats.journal_depth.load(Ordering::Relaxed) == 0).await;
    writer.sync().await.unwrap();
    let r = store.call_record(&key("b")).await.unwrap().unwrap();
    assert_eq!(r.steps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(std::fs::metadata(jdir.join("calls.jsonl")).unwrap().len(), 0);
}

/// A TCP proxy in front of PostgreSQL that the test can cut: while down it drops every
/// connection it carries and refuses new ones — what a database restart or a network
/// partition looks like from Kontakt.
struct Cuttable {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Cuttable {
    async fn start(target: String) -> Cuttable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, rx) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !*rx.borrow() {
                    continue; // dropped: connection refused, in effect
                }
                let mut rx = rx.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Cuttable { port, up }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_loses_no_record() {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(std::env::var("CI").is_err(), "KONTAKT_TEST_PG_URL must be set in CI");
        eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL outage test skipped");
        return;
    };
    use std::str::FromStr as _;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let schema =
        format!("kt_journal_{}_{}", std::process::id(), Utc::now().timestamp_subsec_nanos());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let proxy = Cuttable::start(target).await;
    let store = std::sync::Arc::new(
        PgStore::connect_with(
            options
                .clone()
                .host("127.0.0.1")
                .port(proxy.port)
                .options([("search_path", schema.as_str())]),
        )
        .await
        .unwrap(),
    );
    store.migrate().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = JournalConfig {
        db_timeout: Duration::from_millis(500),
        retry_every: Duration::from_millis(100),
        ..JournalConfig::in_dir(dir.path().join("journal"))
    };
    let writer = RecordWriter::start(store.clone(), cfg).await.unwrap();
    let stats = writer.stats().clone();
    writer.write_durable(vec![open("p1")]).await.unwrap();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 0, "the database was up");

    proxy.up.send_replace(false);
    writer.write_durable(vec![open("p2")]).await.unwrap();
    for seq in 1..=50 {
        writer.write(vec![step("p1", seq), step("p2", seq)]);
    }
    writer.sync().await.unwrap();
    assert_eq!(stats.journal_depth.load(Ordering::Relaxed), 101, "all of it journaled");
    assert!(!stats.db_up.load(Ordering::Relaxed));

    proxy.up.send_replace(true);
    until("the journal to drain into PostgreSQL", || {
        stats.journal_depth.load(Ordering::Relaxed) == 0
    })
    .await;
    for uuid in ["p1", "p2"] {
        let r = store.call_record(&key(uuid)).await.unwrap().unwrap();
        assert_eq!(r.steps.iter().map(|s| s.seq).collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
    }
    assert_eq!(stats.lost.load(Ordering::Relaxed), 0);
    drop(writer);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
