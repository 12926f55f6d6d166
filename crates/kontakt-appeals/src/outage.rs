//! Outages: accidents, planned works and restrictions that leave addresses without a service
//! (Kyiv 1551's "Events"). An outage covers a set of places, each a whole street or one
//! building of it, matched by the same normalised keys as repeat and duplicate detection
//! ([`Address::building_key`]), so "вул. Соборна, 12" typed by an operator meets "Соборна 12"
//! typed by a dispatcher.
//!
//! The screen-pop shows the outages in force at the caller's address; operators can then
//! tell a caller at once that the water is off in the whole street and until when.

use chrono::{DateTime, Utc};

use crate::address::{self, Address};
use crate::error::{ValidationErrors, check, string_enum};
use crate::question::CLOCK_SKEW;

string_enum! {
    /// What kind of event left the service off.
    pub enum OutageKind ("outage kind") {
        /// An unplanned failure: a burst main, a transformer fire.
        Accident = "accident",
        /// Announced works: a scheduled repair, seasonal hydraulic tests.
        PlannedWork = "planned_work",
        /// A limitation by order: rolling power cuts, a reduced water schedule.
        Restriction = "restriction",
    }
}

string_enum! {
    /// Which service is off. The codes are the category tree's top-level groups
    /// ([`crate::seed::default_categories`]), so an outage and the complaints it causes
    /// name the service the same way.
    pub enum OutageClass ("outage class") {
        /// Cold water supply.
        Water = "water",
        /// Hot water supply.
        HotWater = "hot_water",
        /// Central heating.
        Heating = "heating",
        /// Electricity.
        Electricity = "electricity",
        /// Gas.
        Gas = "gas",
        /// Sewerage.
        Sewage = "sewage",
        /// Lifts.
        Lift = "lift",
        /// Anything else.
        Other = "other",
    }
}

/// Longest nature text, in characters.
pub const MAX_OUTAGE_NATURE: usize = 1000;
/// Longest public message, in characters.
pub const MAX_PUBLIC_MESSAGE: usize = 1000;
/// Most places one outage may list: a district-wide cut is entered street by street, and a
/// bound keeps one request (and one screen-pop lookup) small.
pub const MAX_OUTAGE_PLACES: usize = 500;

/// One place an outage covers: a whole street (`building` absent) or one building.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutagePlace {
    /// Street name, with or without its type ("вул.", "просп." …).
    pub street: String,
    /// Building number; `None` covers every building of the street.
    #[serde(default)]
    pub building: Option<String>,
}

impl OutagePlace {
    /// Checks the place. Field paths are relative (`street`, `building`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if self.street.trim().is_empty() {
            errs.push("street", "required", "street is required");
        } else {
            check::line(&mut errs, "street", &self.street, address::MAX_STREET);
        }
        if let Some(b) = &self.building {
            if b.trim().is_empty() {
                errs.push("building", "required", "leave building out to cover the whole street");
            } else {
                check::line(&mut errs, "building", b, address::MAX_BUILDING);
            }
        }
        errs.into_result(())
    }

    /// A copy with spaces trimmed and collapsed, and a blank building turned into `None`.
    pub fn normalized(&self) -> OutagePlace {
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        OutagePlace {
            street: collapse(&self.street),
            building: self.building.as_deref().map(collapse).filter(|b| !b.is_empty()),
        }
    }

    /// The street part of the key ([`address::street_key`]).
    pub fn street_key(&self) -> String {
        address::street_key(&self.street)
    }

    /// The building key ([`Address::building_key`]), or `None` for a whole street.
    pub fn building_key(&self) -> Option<String> {
        self.building.as_deref().map(|b| address::building_key_of(&self.street, b))
    }

    /// Whether this place includes `address`: the same street, and the same building unless
    /// the place is the whole street.
    pub fn covers(&self, address: &Address) -> bool {
        match self.building_key() {
            Some(key) => key == address.building_key(),
            None => self.street_key() == address::street_key(&address.street),
        }
    }
}

/// An outage as it is registered, before the store gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageDraft {
    pub kind: OutageKind,
    pub class: OutageClass,
    /// What happened or what is being done ("порив водогону Д-500").
    pub nature: String,
    /// The places without the service; at least one.
    pub area: Vec<OutagePlace>,
    /// The executor organisation dealing with it.
    pub executor_id: Option<i64>,
    /// When the service went (or goes) off.
    pub started_at: DateTime<Utc>,
    /// When it is expected back.
    pub planned_end_at: Option<DateTime<Utc>>,
    /// What callers may be told, word for word.
    pub public_message: Option<String>,
}

impl OutageDraft {
    /// A copy with texts trimmed, places normalised, and a blank public message dropped.
    pub fn normalized(&self) -> OutageDraft {
        OutageDraft {
            nature: self.nature.trim().to_owned(),
            area: self.area.iter().map(OutagePlace::normalized).collect(),
            public_message: check::trimmed(self.public_message.as_deref()),
            ..self.clone()
        }
    }

    /// Checks the draft at `now`:
    /// - the nature is 1–1000 characters, the public message (if any) at most 1000;
    /// - the area has 1–500 places, each valid, none listed twice;
    /// - an accident has already started (planned works and restrictions may be entered
    ///   ahead of time);
    /// - the planned end is after the start.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        check::text(&mut errs, "nature", &self.nature, 1, MAX_OUTAGE_NATURE);
        if let Some(m) = &self.public_message {
            check::text(&mut errs, "public_message", m, 1, MAX_PUBLIC_MESSAGE);
        }
        if self.area.is_empty() {
            errs.push("area", "required", "name at least one street or building");
        } else if self.area.len() > MAX_OUTAGE_PLACES {
            errs.push(
                "area",
                "too_many",
                format!("at most {MAX_OUTAGE_PLACES} places, got {}", self.area.len()),
            );
        } else {
            let mut seen = std::collections::HashSet::new();
            for (i, place) in self.area.iter().enumerate() {
                let path = format!("area[{i}]");
                if errs.nest_result(&path, place.validate()).is_some()
                    && !seen.insert((place.street_key(), place.building_key()))
                {
                    errs.push(path, "duplicate", "this place is already listed");
                }
            }
        }
        if self.kind == OutageKind::Accident && self.started_at > now + CLOCK_SKEW {
            errs.push("started_at", "in_future", "an accident cannot start in the future");
        }
        if self.planned_end_at.is_some_and(|end| end <= self.started_at) {
            errs.push("planned_end_at", "out_of_range", "must be after started_at");
        }
        errs.into_result(())
    }
}

/// Checks the end of an outage that started at `started_at`: not before its start, and not
/// in the future (an outage is ended once the service is back, not ahead of time).
pub fn validate_outage_end(
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    if ended_at < started_at {
        errs.push("ended_at", "out_of_range", "an outage cannot end before it started");
    }
    if ended_at > now + CLOCK_SKEW {
        errs.push("ended_at", "in_future", "end the outage once the service is back");
    }
    errs.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn place(street: &str, building: Option<&str>) -> OutagePlace {
        OutagePlace { street: street.into(), building: building.map(Into::into) }
    }

    fn addr(street: &str, building: &str) -> Address {
        Address {
            city: None,
            street: street.into(),
            building: building.into(),
            entrance: None,
            flat: Some("4".into()),
            floor: None,
            district: None,
            lat: None,
            lon: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn draft() -> OutageDraft {
        OutageDraft {
            kind: OutageKind::Accident,
            class: OutageClass::Water,
            nature: "Порив водогону".into(),
            area: vec![place("вул. Перемоги", None)],
            executor_id: None,
            started_at: now() - TimeDelta::hours(1),
            planned_end_at: Some(now() + TimeDelta::hours(5)),
            public_message: None,
        }
    }

    #[test]
    fn a_street_covers_every_building_and_a_building_only_itself() {
        let street = place("вулиця Перемоги", None);
        assert!(street.covers(&addr("вул. Перемоги", "12")));
        assert!(street.covers(&addr("Перемоги вул.", "7б")));
        assert!(!street.covers(&addr("вул. Перемоги Нова", "12")));
        let building = place("вул. Перемоги", Some("12 а"));
        assert!(building.covers(&addr("Перемоги", "12-А")));
        assert!(!building.covers(&addr("Перемоги", "12")));
        assert_eq!(building.building_key(), Some(addr("Перемоги", "12а").building_key()));
        assert_eq!(street.building_key(), None);
        assert_eq!(street.street_key(), "перемоги");
    }

    #[test]
    fn validation_table() {
        assert_eq!(draft().validate(now()), Ok(()));
        type Tweak = fn(&mut OutageDraft);
        let cases: &[(Tweak, &str, &str)] = &[
            (|d| d.nature = "  ".into(), "nature", "required"),
            (|d| d.nature = "x".repeat(MAX_OUTAGE_NATURE + 1), "nature", "too_long"),
            (|d| d.public_message = Some("\u{0}".into()), "public_message", "invalid_chars"),
            (|d| d.area.clear(), "area", "required"),
            (|d| d.area = vec![place("x", None); MAX_OUTAGE_PLACES + 1], "area", "too_many"),
            (|d| d.area = vec![place(" ", None)], "area[0].street", "required"),
            (|d| d.area = vec![place("Соборна", Some(" "))], "area[0].building", "required"),
            (
                |d| d.area = vec![place("Соборна", Some(&"1".repeat(31)))],
                "area[0].building",
                "too_long",
            ),
            (
                |d| d.area = vec![place("вул. Соборна", None), place("Соборна вул", None)],
                "area[1]",
                "duplicate",
            ),
            (|d| d.started_at = now() + TimeDelta::hours(1), "started_at", "in_future"),
            (|d| d.planned_end_at = Some(d.started_at), "planned_end_at", "out_of_range"),
        ];
        for (tweak, field, code) in cases {
            let mut d = draft();
            tweak(&mut d);
            let errs = d.validate(now()).expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
        // Planned works may be entered ahead of time.
        let mut planned = draft();
        planned.kind = OutageKind::PlannedWork;
        planned.started_at = now() + TimeDelta::days(2);
        planned.planned_end_at = Some(now() + TimeDelta::days(3));
        assert_eq!(planned.validate(now()), Ok(()));
        // The same street and a building of it are different places.
        let mut both = draft();
        both.area = vec![place("Соборна", None), place("Соборна", Some("1"))];
        assert_eq!(both.validate(now()), Ok(()));
    }

    #[test]
    fn classes_are_the_category_tree_s_groups() {
        let groups: Vec<String> = crate::seed::default_categories()
            .into_iter()
            .filter(|c| c.parent_code.is_none())
            .map(|c| c.code)
            .collect();
        for class in OutageClass::ALL {
            assert!(groups.iter().any(|g| g == class.as_str()), "{class} is not a group");
        }
    }

    #[test]
    fn normalized_trims_and_drops_blanks() {
        let mut d = draft();
        d.nature = "  Порив \n".into();
        d.public_message = Some("   ".into());
        d.area = vec![place("  вул.   Соборна ", Some(" 12 "))];
        let n = d.normalized();
        assert_eq!(n.nature, "Порив");
        assert_eq!(n.public_message, None);
        assert_eq!(n.area, vec![place("вул. Соборна", Some("12"))]);
    }

    #[test]
    fn an_end_is_after_the_start_and_not_ahead() {
        let start = now() - TimeDelta::hours(2);
        assert_eq!(validate_outage_end(start, now(), now()), Ok(()));
        assert_eq!(validate_outage_end(start, start, now()), Ok(()));
        let e = validate_outage_end(start, start - TimeDelta::seconds(1), now()).unwrap_err();
        assert!(e.has("ended_at", "out_of_range"), "{e}");
        let e = validate_outage_end(start, now() + TimeDelta::hours(1), now()).unwrap_err();
        assert!(e.has("ended_at", "in_future"), "{e}");
    }
}
