//! The reference cache (`refcache.rs`) seen from two store instances on one database, as two
//! Kontakt nodes would be: a node sees its own changes to the responsibility map and the
//! category tree at once, another node's only once its copy is older than the TTL. Runs on
//! SQLite (two stores on one file) and on PostgreSQL (two stores on one schema).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontakt_store::*;

fn at() -> DateTime<Utc> {
    "2026-06-01T08:00:00Z".parse().unwrap()
}

fn line(prefix: &str, executor_id: Id) -> NewResponsibility {
    NewResponsibility {
        category_prefix: prefix.into(),
        district: None,
        building_key: None,
        executor_id,
        valid_from: at() - chrono::Duration::days(1),
        valid_to: None,
    }
}

async fn executors(node: &dyn Store) -> usize {
    node.responsibilities_for("water.no_cold_water", at()).await.unwrap().len()
}

/// `a` and `b` share a database; `b` keeps its copies for an hour, `fresh` for no time.
async fn contract(a: Arc<dyn Store>, b: Arc<dyn Store>, fresh: Arc<dyn Store>) {
    a.migrate().await.unwrap();
    let e = a
        .create_executor(
            NewExecutor {
                code: "vodokanal".into(),
                name_uk: "Водоканал".into(),
                name_en: None,
                phone: None,
            },
            at(),
        )
        .await
        .unwrap();
    let tree = kontakt_appeals::seed::default_categories();
    let group = tree.iter().find(|c| c.code == "water").unwrap();
    let category = tree.iter().find(|c| c.code == "water.no_cold_water").unwrap().clone();
    a.upsert_category(group.clone()).await.unwrap();
    a.upsert_category(category.clone()).await.unwrap();

    // Each node reads (and caches) the map and the tree.
    for node in [&a, &b, &fresh] {
        assert_eq!(executors(node.as_ref()).await, 0);
        assert_eq!(
            node.category("water.no_cold_water").await.unwrap().unwrap().sla_hours,
            category.sla_hours
        );
    }
    // A line and a new SLA written through `a`.
    a.add_responsibility(line("water", e.id), at()).await.unwrap();
    let mut changed = category.clone();
    changed.sla_hours = Some(category.sla_hours.unwrap_or(24) + 1);
    a.upsert_category(changed.clone()).await.unwrap();
    // `a` sees its own writes at once; so does a node without a cache.
    assert_eq!(executors(a.as_ref()).await, 1);
    assert_eq!(executors(fresh.as_ref()).await, 1);
    assert_eq!(
        a.category("water.no_cold_water").await.unwrap().unwrap().sla_hours,
        changed.sla_hours
    );
    assert_eq!(
        fresh.category("water.no_cold_water").await.unwrap().unwrap().sla_hours,
        changed.sla_hours
    );
    // `b` still routes with its copy: the staleness the TTL allows.
    assert_eq!(executors(b.as_ref()).await, 0);
    assert_eq!(
        b.category("water.no_cold_water").await.unwrap().unwrap().sla_hours,
        category.sla_hours
    );
}

#[tokio::test]
async fn sqlite_nodes_see_each_others_reference_changes_after_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let a = SqliteStore::open(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = SqliteStore::open(&url).await.unwrap().reference_ttl(Duration::from_secs(3600));
    let fresh = SqliteStore::open(&url).await.unwrap().reference_ttl(Duration::ZERO);
    contract(Arc::new(a), Arc::new(b), Arc::new(fresh)).await;
}

#[tokio::test]
async fn postgres_nodes_see_each_others_reference_changes_after_the_ttl() {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(std::env::var("CI").is_err(), "KONTAKT_TEST_PG_URL must be set in CI");
        eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL half skipped");
        return;
    };
    let schema = format!("kt_refcache_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let a = PgStore::connect_with(options.clone()).await.unwrap();
    a.migrate().await.unwrap();
    let b = PgStore::connect_with(options.clone())
        .await
        .unwrap()
        .reference_ttl(Duration::from_secs(3600));
    let fresh = PgStore::connect_with(options).await.unwrap().reference_ttl(Duration::ZERO);
    contract(Arc::new(a), Arc::new(b), Arc::new(fresh)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
