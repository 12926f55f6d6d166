//! The responsibility map: which executor organisation answers for a category in a building, a
//! district or the whole city, and for which period. Routing a new question is a pure choice
//! among the lines the storage layer loads.
//!
//! Priority, most specific first: a line for the building beats one for the district, which
//! beats a city-wide one; among equals the longer category prefix wins (`water.no_cold_water`
//! over `water`), then the line that took effect last, then the higher id. Old district names
//! (Комунарський → Космічний) match their current ones, so addresses typed from habit still
//! route.

use chrono::{DateTime, Utc};

use crate::category::code_under;
use crate::error::{ValidationErrors, check};
use crate::seed::normalize_district;

/// One line of the responsibility map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponsibilityLine {
    /// Row id.
    pub id: i64,
    /// Category code prefix covered (`water` covers `water.*`; empty covers everything).
    pub category_prefix: String,
    /// District covered; `None` = any district.
    pub district: Option<String>,
    /// Building covered ([`crate::Address::building_key`]); `None` = any building.
    pub building_key: Option<String>,
    /// The executor organisation.
    pub executor_id: i64,
    /// In force from (inclusive).
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive); `None` = open-ended.
    pub valid_to: Option<DateTime<Utc>>,
}

impl ResponsibilityLine {
    /// In force at `at`.
    pub fn in_force(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|to| at < to)
    }

    /// Applies to a question of `category_code` at this place and time.
    pub fn applies(
        &self,
        category_code: &str,
        district: Option<&str>,
        building_key: Option<&str>,
        at: DateTime<Utc>,
    ) -> bool {
        self.in_force(at)
            && code_under(category_code, &self.category_prefix)
            && self.building_key.as_deref().is_none_or(|k| Some(k) == building_key)
            && self
                .district
                .as_deref()
                .is_none_or(|d| district.is_some_and(|q| same_district(d, q)))
    }

    /// Checks a line before it is stored: prefix syntax, a non-empty validity window, bounded
    /// texts.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        let prefix_ok = self.category_prefix.is_empty()
            || self.category_prefix.split('.').all(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !prefix_ok {
            errs.push("category_prefix", "invalid_format", "a category code or its prefix");
        }
        if let Some(to) = self.valid_to
            && to <= self.valid_from
        {
            errs.push("valid_to", "out_of_range", "must be after valid_from");
        }
        if let Some(d) = &self.district {
            if d.trim().is_empty() {
                errs.push("district", "required", "leave it out for the whole city");
            }
            check::line(&mut errs, "district", d, crate::address::MAX_DISTRICT);
        }
        if let Some(k) = &self.building_key
            && (k.trim().is_empty() || !k.contains('|'))
        {
            errs.push(
                "building_key",
                "invalid_format",
                "a building key as made by Address::building_key",
            );
        }
        errs.into_result(())
    }
}

fn same_district(a: &str, b: &str) -> bool {
    let canon =
        |s: &str| normalize_district(s).map_or_else(|| s.trim().to_lowercase(), str::to_lowercase);
    canon(a) == canon(b)
}

/// The line that routes a question of `category_code` at this place and time, or `None` when
/// the map has no line for it (the question then waits for a dispatcher).
pub fn route<'a>(
    lines: &'a [ResponsibilityLine],
    category_code: &str,
    district: Option<&str>,
    building_key: Option<&str>,
    at: DateTime<Utc>,
) -> Option<&'a ResponsibilityLine> {
    lines.iter().filter(|l| l.applies(category_code, district, building_key, at)).max_by_key(|l| {
        (
            l.building_key.is_some(),
            l.district.is_some(),
            l.category_prefix.len(),
            l.valid_from,
            l.id,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn line(
        id: i64,
        prefix: &str,
        district: Option<&str>,
        building: Option<&str>,
        executor: i64,
    ) -> ResponsibilityLine {
        ResponsibilityLine {
            id,
            category_prefix: prefix.into(),
            district: district.map(str::to_owned),
            building_key: building.map(str::to_owned),
            executor_id: executor,
            valid_from: t("2026-01-01T00:00:00Z"),
            valid_to: None,
        }
    }

    fn map() -> Vec<ResponsibilityLine> {
        let mut expired = line(9, "water", None, None, 900);
        expired.valid_to = Some(t("2026-06-01T00:00:00Z"));
        let mut future = line(10, "water", None, None, 1000);
        future.valid_from = t("2027-01-01T00:00:00Z");
        vec![
            line(1, "water", None, None, 100),
            line(2, "water.no_cold_water", None, None, 200),
            line(3, "water", Some("Хортицький"), None, 300),
            line(4, "water", None, Some("соборна|12"), 400),
            line(5, "sewage", Some("Космічний"), None, 500),
            line(6, "", None, None, 600),
            expired,
            future,
        ]
    }

    #[test]
    fn route_table() {
        let lines = map();
        let now = t("2026-11-30T09:00:00Z");
        let cases: &[(&str, Option<&str>, Option<&str>, i64)] = &[
            ("water.leak", None, None, 100),
            ("water.no_cold_water", None, None, 200),
            ("water.no_cold_water", Some("Хортицький"), None, 300),
            ("water.no_cold_water", Some("Хортицький"), Some("соборна|12"), 400),
            ("water.leak", Some("Заводський"), Some("соборна|14"), 100),
            ("sewage.blockage", Some("Космічний"), None, 500),
            ("sewage.blockage", Some("Комунарський район"), None, 500),
            ("sewage.blockage", Some("космічний"), None, 500),
            ("sewage.blockage", Some("Хортицький"), None, 600),
            ("sewage.blockage", None, None, 600),
            ("waterfront.x", None, None, 600),
        ];
        for (cat, district, building, want) in cases {
            let got = route(&lines, cat, *district, *building, now).map(|l| l.executor_id);
            assert_eq!(got, Some(*want), "{cat} {district:?} {building:?}");
        }
        // Validity windows.
        let before = t("2026-03-01T00:00:00Z");
        assert_eq!(
            route(&lines, "gas.smell", None, None, before).map(|l| l.executor_id),
            Some(600)
        );
        let only_expired = [lines[6].clone()];
        assert_eq!(route(&only_expired, "water.leak", None, None, before).map(|l| l.id), Some(9));
        assert_eq!(route(&only_expired, "water.leak", None, None, now), None);
        assert_eq!(route(&[lines[7].clone()], "water.leak", None, None, now), None);
        assert_eq!(route(&[], "water.leak", None, None, now), None);
    }

    #[test]
    fn newer_line_wins_among_equals() {
        let mut old = line(1, "lift", None, None, 1);
        old.valid_from = t("2025-01-01T00:00:00Z");
        let new = line(2, "lift", None, None, 2);
        let lines = [new, old];
        let got = route(&lines, "lift.stopped", None, None, t("2026-11-30T00:00:00Z"));
        assert_eq!(got.map(|l| l.executor_id), Some(2));
    }

    #[test]
    fn line_validation() {
        assert_eq!(line(1, "water", Some("Хортицький"), Some("соборна|12"), 1).validate(), Ok(()));
        assert_eq!(line(1, "", None, None, 1).validate(), Ok(()));
        type Tweak = fn(&mut ResponsibilityLine);
        let cases: &[(Tweak, &str, &str)] = &[
            (|l| l.category_prefix = "Water".into(), "category_prefix", "invalid_format"),
            (|l| l.category_prefix = "water.".into(), "category_prefix", "invalid_format"),
            (|l| l.valid_to = Some(l.valid_from), "valid_to", "out_of_range"),
            (|l| l.district = Some(" ".into()), "district", "required"),
            (|l| l.building_key = Some("соборна 12".into()), "building_key", "invalid_format"),
        ];
        for (tweak, field, code) in cases {
            let mut l = line(1, "water", None, None, 1);
            tweak(&mut l);
            let errs = l.validate().expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: {errs}");
        }
    }
}
