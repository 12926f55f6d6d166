//! A question inside an appeal: one classifiable problem, the unit that is routed to an
//! executor, rated and shown on the map. One call ("no water, and the lift is stuck") is one
//! appeal with two questions.

use chrono::{DateTime, TimeDelta, Utc};

use crate::address::Address;
use crate::category::{Category, validate_attributes};
use crate::error::{ValidationErrors, check};

/// An emergency's facts (appeals.md §5.1): when the problem was noticed and what it is. Both are
/// needed to measure localisation time and to hand the case to 101/104 correctly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Emergency {
    /// When the problem was noticed (not when the call came in).
    pub discovered_at: DateTime<Utc>,
    /// What is happening, in words or a code ("витік газу в під'їзді").
    pub nature: String,
}

/// A question as typed; unchecked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewQuestion {
    /// Code of a leaf category, e.g. `water.no_cold_water`.
    pub category_code: String,
    /// The substance in the applicant's words (Art. 5 requires the substance).
    pub description: String,
    /// Category-specific facts, a JSON object checked against the category's schema.
    #[serde(default)]
    pub attributes: serde_json::Value,
    /// Where the problem is.
    #[serde(default)]
    pub address: Option<Address>,
    /// A non-address object (playground, kiosk, pipe segment) in an external registry.
    #[serde(default)]
    pub object_ref: Option<String>,
    /// Emergency facts; required when the category is an emergency.
    #[serde(default)]
    pub emergency: Option<Emergency>,
}

/// Shortest description accepted, in characters ("Нема води" is 9).
pub const MIN_DESCRIPTION: usize = 3;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 5000;
/// Longest emergency nature text.
pub const MAX_NATURE: usize = 500;
/// Longest object reference.
pub const MAX_OBJECT_REF: usize = 200;
/// How far in the future a client clock may be before a time is refused.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Checks a question against its category at `now`:
/// - the category is the one named, a leaf, and active;
/// - the description is 3–5000 characters;
/// - attributes satisfy the category's schema ([`validate_attributes`]);
/// - the address, if any, is valid;
/// - an emergency category has `emergency` with a `discovered_at` not in the future and a
///   non-empty nature (the same checks apply when an operator flags a non-emergency category as
///   an emergency).
pub fn validate_question(
    q: &NewQuestion,
    category: &Category,
    now: DateTime<Utc>,
) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    if q.category_code.trim().is_empty() {
        errs.push("category_code", "required", "a category is required");
    } else if q.category_code != category.code {
        errs.push(
            "category_code",
            "mismatch",
            format!("question names {} but was checked against {}", q.category_code, category.code),
        );
    } else if !category.is_leaf {
        errs.push(
            "category_code",
            "not_leaf",
            format!("{} is a group; choose one of its subcategories", category.code),
        );
    } else if !category.active {
        errs.push(
            "category_code",
            "inactive",
            format!("{} no longer accepts new questions", category.code),
        );
    }

    check::text(&mut errs, "description", &q.description, MIN_DESCRIPTION, MAX_DESCRIPTION);

    if let Err(e) = validate_attributes(&category.attribute_schema, &q.attributes) {
        errs.nest("", e);
    }
    if let Some(a) = &q.address {
        errs.nest_result("address", a.validate());
    }
    if let Some(o) = &q.object_ref {
        if o.trim().is_empty() {
            errs.push("object_ref", "required", "object reference must not be blank when given");
        }
        check::line(&mut errs, "object_ref", o, MAX_OBJECT_REF);
    }

    match &q.emergency {
        None if category.is_emergency => {
            errs.push(
                "emergency",
                "required",
                "an emergency needs the time it was discovered and its nature",
            );
        }
        None => {}
        Some(e) => {
            if e.discovered_at > now + CLOCK_SKEW {
                errs.push(
                    "emergency.discovered_at",
                    "in_future",
                    "the problem cannot be discovered in the future",
                );
            }
            if e.nature.trim().is_empty() {
                errs.push("emergency.nature", "required", "describe what is happening");
            } else {
                check::line(&mut errs, "emergency.nature", &e.nature, MAX_NATURE);
            }
        }
    }
    errs.into_result(())
}

/// The question is handled as an emergency: its category is one, or the operator flagged it.
pub fn is_emergency(q: &NewQuestion, category: &Category) -> bool {
    category.is_emergency || q.emergency.is_some()
}

/// The building key of the question's address, for repeat and duplicate matching.
pub fn building_key(q: &NewQuestion) -> Option<String> {
    q.address.as_ref().map(Address::building_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::{AttributeDef, AttributeKind, LegalTrack, Severity};
    use serde_json::json;

    fn lift() -> Category {
        Category {
            code: "lift.people_stuck".into(),
            parent_code: Some("lift".into()),
            name_uk: "Люди застрягли в ліфті".into(),
            name_en: None,
            is_emergency: true,
            severity: Severity::P0,
            sla_hours: Some(1),
            attention_pct: 75,
            legal_track: LegalTrack::ServiceRequest,
            attribute_schema: vec![AttributeDef {
                code: "people_inside".into(),
                name_uk: "Люди в кабіні".into(),
                kind: AttributeKind::Bool,
                required: true,
            }],
            is_leaf: true,
            active: true,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn q() -> NewQuestion {
        NewQuestion {
            category_code: "lift.people_stuck".into(),
            description: "Застряг ліфт, у кабіні дитина".into(),
            attributes: json!({"people_inside": true}),
            address: Some(Address {
                city: None,
                street: "вул. Соборна".into(),
                building: "12".into(),
                entrance: Some("3".into()),
                flat: None,
                floor: Some(7),
                district: None,
                lat: None,
                lon: None,
            }),
            object_ref: None,
            emergency: Some(Emergency {
                discovered_at: now() - TimeDelta::minutes(10),
                nature: "люди в кабіні".into(),
            }),
        }
    }

    #[test]
    fn valid_question() {
        assert_eq!(validate_question(&q(), &lift(), now()), Ok(()));
        assert!(is_emergency(&q(), &lift()));
        assert_eq!(building_key(&q()).as_deref(), Some("соборна|12"));
        // Within clock skew.
        let mut x = q();
        if let Some(e) = x.emergency.as_mut() {
            e.discovered_at = now() + TimeDelta::minutes(2);
        }
        assert_eq!(validate_question(&x, &lift(), now()), Ok(()));
    }

    #[test]
    fn rejections_table() {
        type Tweak = fn(&mut NewQuestion, &mut Category);
        let cases: &[(Tweak, &str, &str)] = &[
            (|q, _| q.category_code = "water.burst".into(), "category_code", "mismatch"),
            (|q, _| q.category_code = " ".into(), "category_code", "required"),
            (|_, c| c.is_leaf = false, "category_code", "not_leaf"),
            (|_, c| c.active = false, "category_code", "inactive"),
            (|q, _| q.description = "  ".into(), "description", "required"),
            (|q, _| q.description = "ab".into(), "description", "too_short"),
            (|q, _| q.description = "я".repeat(MAX_DESCRIPTION + 1), "description", "too_long"),
            (|q, _| q.description = "ліфт\u{0}".into(), "description", "invalid_chars"),
            (|q, _| q.attributes = json!({}), "attributes.people_inside", "required"),
            (
                |q, _| q.attributes = json!({"people_inside": true, "x": 1}),
                "attributes.x",
                "not_allowed",
            ),
            (|q, _| q.attributes = json!([]), "attributes", "invalid_type"),
            (
                |q, _| {
                    if let Some(a) = q.address.as_mut() {
                        a.building = String::new();
                    }
                },
                "address.building",
                "required",
            ),
            (|q, _| q.object_ref = Some(" ".into()), "object_ref", "required"),
            (|q, _| q.emergency = None, "emergency", "required"),
            (
                |q, _| {
                    if let Some(e) = q.emergency.as_mut() {
                        e.discovered_at += TimeDelta::hours(1);
                    }
                },
                "emergency.discovered_at",
                "in_future",
            ),
            (
                |q, _| {
                    if let Some(e) = q.emergency.as_mut() {
                        e.nature = " ".into();
                    }
                },
                "emergency.nature",
                "required",
            ),
            // A non-emergency category flagged as an emergency gets the same checks.
            (
                |q, c| {
                    c.is_emergency = false;
                    if let Some(e) = q.emergency.as_mut() {
                        e.nature = String::new();
                    }
                },
                "emergency.nature",
                "required",
            ),
        ];
        for (tweak, field, code) in cases {
            let (mut question, mut cat) = (q(), lift());
            tweak(&mut question, &mut cat);
            let errs = validate_question(&question, &cat, now()).expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
    }

    #[test]
    fn non_emergency_without_emergency_is_fine() {
        let mut cat = lift();
        cat.is_emergency = false;
        let mut x = q();
        x.emergency = None;
        assert_eq!(validate_question(&x, &cat, now()), Ok(()));
        assert!(!is_emergency(&x, &cat));
    }
}
