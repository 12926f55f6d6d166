//! The category tree and the responsibility map, kept in memory for a few seconds.
//!
//! Every registration reads both (the question's category for its SLA and attribute schema;
//! the map to route it), and both change a few times a year. Without the cache they were two
//! of the three reads a registration makes before its write — a round trip each on
//! PostgreSQL.
//!
//! Staleness is bounded, not zero: this store's own writes (`upsert_category`,
//! `add_responsibility`) drop the cached copy at once, but a change made through another
//! Kontakt node sharing the database, or by hand in SQL, is seen here after at most
//! [`REFERENCE_TTL`]. A generation counter keeps a load that raced with a write from putting
//! the old rows back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kontakt_appeals::{Category, ResponsibilityLine};

/// How long a copy of the reference data is used before it is read again.
pub const REFERENCE_TTL: Duration = Duration::from_secs(5);

/// One cached table: the rows, when they were read, and under which generation.
struct Slot<T> {
    generation: AtomicU64,
    value: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot { generation: AtomicU64::new(0), value: Mutex::new(None) }
    }

    /// The cached rows if younger than `ttl`; else the generation to load under.
    fn get(&self, ttl: Duration) -> Result<Arc<T>, u64> {
        // Read the generation first: an invalidation after this point makes `put` refuse.
        let generation = self.generation.load(Ordering::Acquire);
        let value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        match &*value {
            Some((at, v)) if at.elapsed() < ttl => Ok(v.clone()),
            _ => Err(generation),
        }
    }

    /// Keeps freshly loaded rows, unless a write invalidated them since `generation`.
    fn put(&self, generation: u64, v: T) -> Arc<T> {
        let v = Arc::new(v);
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            *value = Some((Instant::now(), v.clone()));
        }
        v
    }

    fn invalidate(&self) {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *value = None;
    }
}

/// The cache one store instance keeps.
pub(crate) struct RefCache {
    ttl: Duration,
    categories: Slot<HashMap<String, Category>>,
    responsibilities: Slot<Vec<ResponsibilityLine>>,
}

impl RefCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        RefCache { ttl, categories: Slot::new(), responsibilities: Slot::new() }
    }

    pub(crate) fn set_ttl(&mut self, ttl: Duration) {
        self.ttl = ttl;
    }

    /// The category tree by code, or the generation to load it under.
    pub(crate) fn categories(&self) -> Result<Arc<HashMap<String, Category>>, u64> {
        self.categories.get(self.ttl)
    }

    pub(crate) fn put_categories(
        &self,
        generation: u64,
        rows: Vec<Category>,
    ) -> Arc<HashMap<String, Category>> {
        let by_code = rows.into_iter().map(|c| (c.code.clone(), c)).collect();
        self.categories.put(generation, by_code)
    }

    pub(crate) fn categories_changed(&self) {
        self.categories.invalidate();
    }

    /// The whole responsibility map (ordered by id), or the generation to load it under.
    pub(crate) fn responsibilities(&self) -> Result<Arc<Vec<ResponsibilityLine>>, u64> {
        self.responsibilities.get(self.ttl)
    }

    pub(crate) fn put_responsibilities(
        &self,
        generation: u64,
        rows: Vec<ResponsibilityLine>,
    ) -> Arc<Vec<ResponsibilityLine>> {
        self.responsibilities.put(generation, rows)
    }

    pub(crate) fn responsibilities_changed(&self) {
        self.responsibilities.invalidate();
    }
}

/// The lines that cover `category_code` and are in force at `at`: what the SQL of
/// `responsibilities_for` selects (a prefix compared as text, so `_` and `%` in codes are
/// ordinary characters; `valid_from` inclusive, `valid_to` exclusive), in id order.
pub(crate) fn lines_for(
    lines: &[ResponsibilityLine],
    category_code: &str,
    at: DateTime<Utc>,
) -> Vec<ResponsibilityLine> {
    lines
        .iter()
        .filter(|l| category_code.starts_with(l.category_prefix.as_str()) && l.in_force(at))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone as _;

    fn line(id: i64, prefix: &str, from: i64, to: Option<i64>) -> ResponsibilityLine {
        let t = |d: i64| Utc.timestamp_opt(d * 86_400, 0).unwrap();
        ResponsibilityLine {
            id,
            category_prefix: prefix.into(),
            district: None,
            building_key: None,
            executor_id: id * 10,
            valid_from: t(from),
            valid_to: to.map(t),
        }
    }

    #[test]
    fn lines_for_matches_the_sql_filter() {
        let lines = vec![
            line(1, "", 0, None),
            line(2, "water", 0, None),
            line(3, "water.burst", 5, Some(10)),
            line(4, "water_", 0, None),
            line(5, "heating", 0, None),
        ];
        let at = |d: i64| Utc.timestamp_opt(d * 86_400, 0).unwrap();
        let ids = |code: &str, day: i64| -> Vec<i64> {
            lines_for(&lines, code, at(day)).iter().map(|l| l.id).collect()
        };
        assert_eq!(ids("water.burst", 7), vec![1, 2, 3]);
        // valid_from inclusive, valid_to exclusive
        assert_eq!(ids("water.burst", 5), vec![1, 2, 3]);
        assert_eq!(ids("water.burst", 10), vec![1, 2]);
        assert_eq!(ids("water.burst", 4), vec![1, 2]);
        // '_' is a character, not a wildcard
        assert_eq!(ids("waterX", 7), vec![1, 2]);
        assert_eq!(ids("water_x", 7), vec![1, 2, 4]);
        assert_eq!(ids("gas.smell", 7), vec![1]);
    }

    #[test]
    fn a_write_during_a_load_keeps_the_old_rows_out() {
        let cache = RefCache::new(Duration::from_secs(60));
        let generation = cache.responsibilities().unwrap_err();
        // A write lands while the rows are being read.
        cache.responsibilities_changed();
        let old = cache.put_responsibilities(generation, vec![line(1, "", 0, None)]);
        assert_eq!(old.len(), 1, "the caller still gets what it read");
        let next = cache.responsibilities().unwrap_err();
        assert_ne!(next, generation, "but the cache does not keep it");
        cache.put_responsibilities(next, vec![line(1, "", 0, None), line(2, "gas", 0, None)]);
        assert_eq!(cache.responsibilities().unwrap().len(), 2);
    }

    #[test]
    fn rows_expire_after_the_ttl() {
        let cache = RefCache::new(Duration::ZERO);
        let generation = cache.categories().unwrap_err();
        cache.put_categories(generation, Vec::new());
        assert!(cache.categories().is_err(), "a zero TTL never serves a copy");
        let mut cache = cache;
        cache.set_ttl(Duration::from_secs(60));
        assert!(cache.categories().is_ok(), "the same copy, young enough for a longer TTL");
        cache.categories_changed();
        assert!(cache.categories().is_err(), "a local write drops the copy at once");
    }
}
