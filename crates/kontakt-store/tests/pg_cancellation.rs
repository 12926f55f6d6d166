//! A PostgreSQL write cancelled at any point (the record writer's timeout, a client that hangs
//! up) leaves no transaction open on a pooled connection: what is written after it is
//! committed. PostgreSQL only (`KONTAKT_TEST_PG_URL`); SQLite has no pool of sessions to leak.
//!
//! sqlx 0.9 cancelled while `begin()` waits for BEGIN's answer puts the connection back inside
//! the transaction (see `pool_options` in `src/pg.rs`); without the store's check, a plain
//! statement that then lands on that connection is never committed, and this test fails.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::future::Future;
use std::str::FromStr;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontakt_store::*;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// `fut`, dropped when it would wait for the `pauses + 1`-th time: `None` if it was dropped.
/// Each wait is a point where a timeout can cancel it, so counting them reaches every such
/// point in turn (a timer cannot: tokio's resolution is a millisecond, a round trip is less).
async fn cancelled_after<F: Future>(fut: F, pauses: usize) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut waited = 0;
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending if waited == pauses => Poll::Ready(None),
        Poll::Pending => {
            waited += 1;
            Poll::Pending
        }
    })
    .await
}

/// Waits until every connection of the pool is back in it (a dropped one is given back by a
/// task of its own).
async fn settle(store: &PgStore) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.pool().num_idle() < store.pool().size() as usize {
        assert!(tokio::time::Instant::now() < deadline, "the pool's connections never came back");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn key(uuid: &str) -> CallKey {
    CallKey { node: "fs1".into(), uuid: uuid.into() }
}

fn batch(uuid: &str, at: DateTime<Utc>) -> Vec<CallOp> {
    vec![
        CallOp::Open(NewCallRecord {
            key: key(uuid),
            direction: "inbound".into(),
            caller: None,
            caller_raw: "anonymous".into(),
            presentation: "anonymous".into(),
            dialled: "1580".into(),
            line: None,
            carrier: None,
            started_at: at,
        }),
        CallOp::Step {
            key: key(uuid),
            seq: 1,
            at,
            kind: "ivr".into(),
            detail: serde_json::json!({}),
        },
        CallOp::Update {
            key: key(uuid),
            set: CallUpdate { queue: Some("general".into()), ..Default::default() },
        },
    ]
}

/// A migrated store on a fresh schema, the options that reach it, and an admin connection
/// (to drop the schema with `finish`); `None` without `KONTAKT_TEST_PG_URL`.
async fn scratch() -> Option<(PgStore, PgConnectOptions, PgConnection, String)> {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(std::env::var("CI").is_err(), "KONTAKT_TEST_PG_URL must be set in CI");
        eprintln!("KONTAKT_TEST_PG_URL is not set: skipped");
        return None;
    };
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let schema =
        format!("kt_cancel_{}_{seq}_{}", std::process::id(), Utc::now().timestamp_micros());
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", &*schema)]);
    let store = PgStore::connect_with(options.clone()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, options, admin, schema))
}

async fn finish(store: PgStore, mut admin: PgConnection, schema: String) {
    store.pool().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_connection_stays_in_the_pool() {
    let Some((store, _, admin, schema)) = scratch().await else { return };
    // The check on leaving the pool must not take a connection outside any transaction for
    // one inside: used one at a time, the pool keeps handing out the sessions it has (one or
    // two: start-up may open a second), never new ones in place of closed ones.
    let mut sessions = std::collections::BTreeSet::new();
    for _ in 0..50 {
        settle(&store).await;
        let (pid,): (i32,) =
            sqlx::query_as("SELECT pg_backend_pid()").fetch_one(store.pool()).await.unwrap();
        sessions.insert(pid);
    }
    assert!(sessions.len() <= store.pool().size() as usize, "{sessions:?}");
    finish(store, admin, schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_a_cancelled_write_are_committed() {
    let Some((store, options, admin, schema)) = scratch().await else { return };
    // Sees only what is committed: it is no connection of the store's pool.
    let mut observer = PgConnection::connect_with(&options).await.unwrap();

    let at = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc);
    let mut completed = 0;
    for pauses in 0..1_000 {
        let uuid = format!("u-{pauses}");
        let ops = batch(&uuid, at);
        let done = cancelled_after(store.apply_call_ops(&ops), pauses).await;
        settle(&store).await;

        // A cancelled batch is all or nothing.
        let (calls, steps): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT c.id), COUNT(s.seq) FROM calls c \
             LEFT JOIN call_steps s ON s.call_id = c.id WHERE c.uuid = $1",
        )
        .bind(&uuid)
        .fetch_one(&mut observer)
        .await
        .unwrap();
        assert!((calls, steps) == (0, 0) || (calls, steps) == (1, 1), "{uuid}: {calls} {steps}");

        // A statement outside any transaction of its own, once on every pooled connection
        // (the pool hands out its idle connections in turn), is committed when it returns.
        for n in 0..store.pool().size() {
            let subject = format!("{pauses}-{n}");
            store
                .audit(NewAudit {
                    user_id: None,
                    action: "test".into(),
                    subject_kind: "cancel".into(),
                    subject_id: subject.clone(),
                    detail: None,
                    at,
                })
                .await
                .unwrap();
            let (seen,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE subject_id = $1")
                    .bind(&subject)
                    .fetch_one(&mut observer)
                    .await
                    .unwrap();
            assert_eq!(seen, 1, "a write after cancelling at pause {pauses} was not committed");
        }

        // The record writer retries the batch (replaying is harmless); then it is there.
        store.apply_call_ops(&ops).await.unwrap();
        let (queue,): (Option<String>,) =
            sqlx::query_as("SELECT queue FROM calls WHERE node = 'fs1' AND uuid = $1")
                .bind(&uuid)
                .fetch_one(&mut observer)
                .await
                .unwrap();
        assert_eq!(queue.as_deref(), Some("general"), "{uuid}");

        // Cancelling further than the write goes needs no more turns.
        if let Some(result) = done {
            result.unwrap();
            completed += 1;
            if completed == 3 {
                break;
            }
        }
    }
    assert_eq!(completed, 3, "the write never completed");

    observer.close().await.unwrap();
    finish(store, admin, schema).await;
}
