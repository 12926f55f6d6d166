//! The category tree: what a question is about, how urgent it is, how fast it must be solved,
//! which legal clock applies, and which extra facts the operator must ask for.
//!
//! Attribute schemas follow Open311 GeoReport v2 service definitions (`string`, `number`,
//! `singlevaluelist`, `datetime`): an operator who picks "lift stopped" is made to ask whether
//! people are inside, which decides between a P0 emergency and a next-day repair.

use crate::error::{ValidationErrors, check, string_enum};

string_enum! {
    /// Severity of a category's typical problem (appeals.md §6.1).
    pub enum Severity ("severity") {
        /// Threat to life or property.
        P0 = "p0",
        /// Loss of an essential service.
        P1 = "p1",
        /// A defect.
        P2 = "p2",
        /// An improvement or information.
        P3 = "p3",
    }
}

string_enum! {
    /// Which legal clock applies to appeals in this category.
    pub enum LegalTrack ("legal track") {
        /// An operational service request (no water, stuck lift): the SLA in hours governs; the
        /// appeal-level legal clock, if any, is decided by the appeal's legal kind.
        ServiceRequest = "service_request",
        /// Art. 20 of Law 393/96: needs no extra study, at most 15 days.
        Art20Short = "art20_short",
        /// Art. 20 of Law 393/96: general case, at most one month.
        Art20General = "art20_general",
    }
}

/// Type of an attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// Free text (one line, at most [`MAX_ATTRIBUTE_TEXT`] characters).
    String,
    /// A finite JSON number.
    Number,
    /// `true` or `false`.
    Bool,
    /// One of the listed codes (Open311 `singlevaluelist`).
    SingleValue(Vec<String>),
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

impl AttributeKind {
    /// Stable name of the kind (`string`, `number`, `bool`, `single_value`, `date`).
    pub fn as_str(&self) -> &'static str {
        match self {
            AttributeKind::String => "string",
            AttributeKind::Number => "number",
            AttributeKind::Bool => "bool",
            AttributeKind::SingleValue(_) => "single_value",
            AttributeKind::Date => "date",
        }
    }
}

/// One extra field of a category (an Open311 service-definition attribute).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttributeDef {
    /// Key in the question's `attributes` object, e.g. `people_inside`.
    pub code: String,
    /// Label shown to the operator.
    pub name_uk: String,
    /// Value type.
    pub kind: AttributeKind,
    /// Must be present (and not null).
    pub required: bool,
}

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    /// Dotted code, e.g. `water.no_cold_water`; the parent's code is its prefix.
    pub code: String,
    /// Parent's code; `None` at the top level.
    pub parent_code: Option<String>,
    /// Ukrainian name.
    pub name_uk: String,
    /// English name.
    pub name_en: Option<String>,
    /// Questions in this category are emergencies: `discovered_at` and nature are required.
    pub is_emergency: bool,
    /// Default severity.
    pub severity: Severity,
    /// Resolution SLA in hours, counted 24/7 from registration; `None` = only the legal clock.
    pub sla_hours: Option<u32>,
    /// Percentage of the SLA window after which the question needs attention (default 75).
    pub attention_pct: u8,
    /// Legal clock.
    pub legal_track: LegalTrack,
    /// Extra fields the question must carry.
    pub attribute_schema: Vec<AttributeDef>,
    /// Only leaves can be chosen for a question.
    pub is_leaf: bool,
    /// Inactive categories stay for history but take no new questions.
    pub active: bool,
}

/// Default attention threshold, percent of the SLA window (the Kyiv 1551 default).
pub const DEFAULT_ATTENTION_PCT: u8 = 75;
/// Longest string attribute value, in characters.
pub const MAX_ATTRIBUTE_TEXT: usize = 1000;
/// Longest SLA a category may set: 45 days, the longest legal term (Art. 20).
pub const MAX_SLA_HOURS: u32 = 45 * 24;

/// Checks a question's `attributes` against a category's schema: it must be a JSON object
/// (`null` counts as empty), may carry no key the schema does not define, must have every
/// required key with a non-null value, and every value must have the declared type.
///
/// Errors are reported at `attributes.<code>` (or `attributes` for the object itself).
pub fn validate_attributes(
    schema: &[AttributeDef],
    attrs: &serde_json::Value,
) -> Result<(), ValidationErrors> {
    use serde_json::Value;
    let mut errs = ValidationErrors::new();
    let empty = serde_json::Map::new();
    let obj = match attrs {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => {
            errs.push("attributes", "invalid_type", "attributes must be a JSON object");
            return Err(errs);
        }
    };
    for key in obj.keys() {
        if !schema.iter().any(|d| &d.code == key) {
            let allowed: Vec<&str> = schema.iter().map(|d| d.code.as_str()).collect();
            let allowed = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            errs.push(
                format!("attributes.{key}"),
                "not_allowed",
                format!("unknown attribute; allowed: {allowed}"),
            );
        }
    }
    for def in schema {
        let field = format!("attributes.{}", def.code);
        let value = match obj.get(&def.code) {
            None | Some(Value::Null) => {
                if def.required {
                    errs.push(field, "required", format!("{} is required", def.name_uk));
                }
                continue;
            }
            Some(v) => v,
        };
        match (&def.kind, value) {
            (AttributeKind::String, Value::String(s)) => {
                if s.trim().is_empty() && def.required {
                    errs.push(&field, "required", format!("{} is required", def.name_uk));
                }
                check::line(&mut errs, &field, s, MAX_ATTRIBUTE_TEXT);
            }
            (AttributeKind::Number, Value::Number(n)) => {
                if !n.as_f64().is_some_and(f64::is_finite) {
                    errs.push(field, "invalid_type", "must be a finite number");
                }
            }
            (AttributeKind::Bool, Value::Bool(_)) => {}
            (AttributeKind::SingleValue(values), Value::String(s)) => {
                if !values.iter().any(|v| v == s) {
                    errs.push(
                        field,
                        "invalid_value",
                        format!("must be one of: {}", values.join(", ")),
                    );
                }
            }
            (AttributeKind::Date, Value::String(s)) => {
                if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                    errs.push(field, "invalid_date", "must be a date YYYY-MM-DD");
                }
            }
            (kind, _) => {
                errs.push(field, "invalid_type", format!("must be of type {}", kind.as_str()));
            }
        }
    }
    errs.into_result(())
}

/// A minimal attributes object that satisfies `schema`: every required attribute gets a neutral
/// value (`false`, `0`, the first listed value, `today`, or "не вказано"), optional ones are left
/// out. For demo data and tests; real input comes from the operator.
pub fn example_attributes(schema: &[AttributeDef], today: chrono::NaiveDate) -> serde_json::Value {
    use serde_json::Value;
    let mut obj = serde_json::Map::new();
    for def in schema.iter().filter(|d| d.required) {
        let v = match &def.kind {
            AttributeKind::Bool => Value::Bool(false),
            AttributeKind::Number => Value::from(0),
            AttributeKind::String => Value::from("не вказано"),
            AttributeKind::SingleValue(values) => {
                values.first().map_or(Value::Null, |v| Value::from(v.as_str()))
            }
            AttributeKind::Date => Value::from(today.format("%Y-%m-%d").to_string()),
        };
        obj.insert(def.code.clone(), v);
    }
    Value::Object(obj)
}

impl Category {
    /// Checks one category on its own: code syntax, parent prefix, names, SLA bounds, attention
    /// percentage and attribute definitions.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if !is_valid_code(&self.code) {
            errs.push(
                "code",
                "invalid_format",
                "lowercase latin segments [a-z0-9_] joined by dots",
            );
        }
        if let Some(parent) = &self.parent_code {
            let is_prefix =
                self.code.strip_prefix(parent.as_str()).is_some_and(|rest| rest.starts_with('.'));
            if !is_prefix {
                errs.push(
                    "parent_code",
                    "mismatch",
                    "the parent's code must be a prefix of the code",
                );
            }
        } else if self.code.contains('.') {
            errs.push("parent_code", "required", "a nested code needs its parent");
        }
        if self.name_uk.trim().is_empty() {
            errs.push("name_uk", "required", "Ukrainian name is required");
        } else {
            check::line(&mut errs, "name_uk", &self.name_uk, 200);
        }
        if let Some(en) = &self.name_en {
            check::line(&mut errs, "name_en", en, 200);
        }
        match self.sla_hours {
            Some(0) => errs.push("sla_hours", "out_of_range", "SLA must be at least one hour"),
            Some(h) if h > MAX_SLA_HOURS => errs.push(
                "sla_hours",
                "out_of_range",
                format!("SLA may not exceed {MAX_SLA_HOURS} hours (Art. 20)"),
            ),
            _ => {}
        }
        if !(1..=100).contains(&self.attention_pct) {
            errs.push(
                "attention_pct",
                "out_of_range",
                "attention threshold must be 1..=100 percent",
            );
        }
        for (i, def) in self.attribute_schema.iter().enumerate() {
            let field = format!("attribute_schema[{i}]");
            if !is_valid_segment(&def.code) {
                errs.push(
                    format!("{field}.code"),
                    "invalid_format",
                    "attribute code must match [a-z0-9_]+",
                );
            }
            if self.attribute_schema[..i].iter().any(|d| d.code == def.code) {
                errs.push(format!("{field}.code"), "duplicate", "attribute code used twice");
            }
            if def.name_uk.trim().is_empty() {
                errs.push(format!("{field}.name_uk"), "required", "attribute label is required");
            }
            if let AttributeKind::SingleValue(values) = &def.kind
                && values.is_empty()
            {
                errs.push(
                    format!("{field}.kind"),
                    "required",
                    "a value list needs at least one value",
                );
            }
        }
        errs.into_result(())
    }

    /// The resolution window as a duration, if the category has an SLA.
    pub fn sla(&self) -> Option<chrono::TimeDelta> {
        self.sla_hours.map(|h| chrono::TimeDelta::hours(i64::from(h)))
    }
}

/// Checks a whole tree: each category valid, codes unique, every parent present, and `is_leaf`
/// true exactly for categories without children. Paths are `[index].field`.
pub fn validate_tree(categories: &[Category]) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    for (i, c) in categories.iter().enumerate() {
        let at = format!("[{i}]");
        errs.nest_result(&at, c.validate());
        if categories[..i].iter().any(|o| o.code == c.code) {
            errs.push(format!("{at}.code"), "duplicate", format!("code {} used twice", c.code));
        }
        if let Some(p) = &c.parent_code
            && !categories.iter().any(|o| &o.code == p)
        {
            errs.push(
                format!("{at}.parent_code"),
                "not_found",
                format!("parent {p} does not exist"),
            );
        }
        let has_children =
            categories.iter().any(|o| o.parent_code.as_deref() == Some(c.code.as_str()));
        if has_children == c.is_leaf {
            errs.push(
                format!("{at}.is_leaf"),
                "mismatch",
                "is_leaf must be true exactly when there are no children",
            );
        }
    }
    errs.into_result(())
}

fn is_valid_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_valid_code(code: &str) -> bool {
    code.len() <= 100 && code.split('.').all(is_valid_segment)
}

/// True if `code` is `prefix` itself or lies under it in the tree (`water` covers
/// `water.no_cold_water` but not `waterfront.x`).
pub fn code_under(code: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || code.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Vec<AttributeDef> {
        vec![
            AttributeDef {
                code: "people_inside".into(),
                name_uk: "Люди в кабіні".into(),
                kind: AttributeKind::Bool,
                required: true,
            },
            AttributeDef {
                code: "scope".into(),
                name_uk: "Масштаб".into(),
                kind: AttributeKind::SingleValue(vec!["building".into(), "riser".into()]),
                required: false,
            },
            AttributeDef {
                code: "temp".into(),
                name_uk: "Температура".into(),
                kind: AttributeKind::Number,
                required: false,
            },
            AttributeDef {
                code: "since".into(),
                name_uk: "З дати".into(),
                kind: AttributeKind::Date,
                required: false,
            },
            AttributeDef {
                code: "note".into(),
                name_uk: "Примітка".into(),
                kind: AttributeKind::String,
                required: false,
            },
        ]
    }

    #[test]
    fn attributes_table() {
        let ok: &[serde_json::Value] = &[
            json!({"people_inside": true}),
            json!({"people_inside": false, "scope": "riser", "temp": 14.5, "since": "2026-11-01", "note": "x"}),
            json!({"people_inside": false, "scope": null}),
        ];
        for v in ok {
            assert_eq!(validate_attributes(&schema(), v), Ok(()), "{v}");
        }
        let bad: &[(serde_json::Value, &str, &str)] = &[
            (json!({}), "attributes.people_inside", "required"),
            (json!(null), "attributes.people_inside", "required"),
            (json!({"people_inside": null}), "attributes.people_inside", "required"),
            (json!({"people_inside": "yes"}), "attributes.people_inside", "invalid_type"),
            (json!({"people_inside": true, "floor": 3}), "attributes.floor", "not_allowed"),
            (
                json!({"people_inside": true, "scope": "street"}),
                "attributes.scope",
                "invalid_value",
            ),
            (json!({"people_inside": true, "scope": 1}), "attributes.scope", "invalid_type"),
            (json!({"people_inside": true, "temp": "14"}), "attributes.temp", "invalid_type"),
            (
                json!({"people_inside": true, "since": "01.11.2026"}),
                "attributes.since",
                "invalid_date",
            ),
            (
                json!({"people_inside": true, "since": "2026-02-30"}),
                "attributes.since",
                "invalid_date",
            ),
            (
                json!({"people_inside": true, "note": "x".repeat(MAX_ATTRIBUTE_TEXT + 1)}),
                "attributes.note",
                "too_long",
            ),
            (json!([1, 2]), "attributes", "invalid_type"),
            (json!("people_inside"), "attributes", "invalid_type"),
        ];
        for (v, field, code) in bad {
            let errs = validate_attributes(&schema(), v).expect_err("should fail");
            assert!(errs.has(field, code), "{v}: want {field} {code}, got {errs}");
        }
        // No schema: only an empty object or null passes.
        assert_eq!(validate_attributes(&[], &json!({})), Ok(()));
        assert!(validate_attributes(&[], &json!({"a": 1})).is_err());
    }

    #[test]
    fn example_attributes_satisfy_every_schema() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let mut with_date = schema();
        with_date.push(AttributeDef {
            code: "d".into(),
            name_uk: "Дата".into(),
            kind: AttributeKind::Date,
            required: true,
        });
        with_date.push(AttributeDef {
            code: "s".into(),
            name_uk: "Текст".into(),
            kind: AttributeKind::String,
            required: true,
        });
        with_date.push(AttributeDef {
            code: "n".into(),
            name_uk: "Число".into(),
            kind: AttributeKind::Number,
            required: true,
        });
        let ex = example_attributes(&with_date, today);
        assert_eq!(
            ex,
            json!({"people_inside": false, "d": "2026-11-30", "s": "не вказано", "n": 0})
        );
        assert_eq!(validate_attributes(&with_date, &ex), Ok(()));
        for c in crate::seed::default_categories() {
            assert_eq!(
                validate_attributes(
                    &c.attribute_schema,
                    &example_attributes(&c.attribute_schema, today)
                ),
                Ok(()),
                "{}",
                c.code
            );
        }
    }

    #[test]
    fn code_under_respects_segments() {
        assert!(code_under("water.no_cold_water", "water"));
        assert!(code_under("water", "water"));
        assert!(code_under("water.x", ""));
        assert!(!code_under("waterfront.x", "water"));
        assert!(!code_under("water", "water.no_cold_water"));
    }

    #[test]
    fn category_validation() {
        let good = Category {
            code: "lift.stopped".into(),
            parent_code: Some("lift".into()),
            name_uk: "Ліфт не працює".into(),
            name_en: Some("Lift stopped".into()),
            is_emergency: false,
            severity: Severity::P1,
            sla_hours: Some(24),
            attention_pct: DEFAULT_ATTENTION_PCT,
            legal_track: LegalTrack::ServiceRequest,
            attribute_schema: schema(),
            is_leaf: true,
            active: true,
        };
        assert_eq!(good.validate(), Ok(()));
        assert_eq!(good.sla(), Some(chrono::TimeDelta::hours(24)));
        type Tweak = fn(&mut Category);
        let cases: &[(Tweak, &str, &str)] = &[
            (|c| c.code = "Lift.Stopped".into(), "code", "invalid_format"),
            (|c| c.code = "lift..x".into(), "code", "invalid_format"),
            (|c| c.parent_code = Some("water".into()), "parent_code", "mismatch"),
            (|c| c.parent_code = None, "parent_code", "required"),
            (|c| c.name_uk = " ".into(), "name_uk", "required"),
            (|c| c.sla_hours = Some(0), "sla_hours", "out_of_range"),
            (|c| c.sla_hours = Some(MAX_SLA_HOURS + 1), "sla_hours", "out_of_range"),
            (|c| c.attention_pct = 0, "attention_pct", "out_of_range"),
            (|c| c.attention_pct = 101, "attention_pct", "out_of_range"),
            (
                |c| c.attribute_schema[1].code = "people_inside".into(),
                "attribute_schema[1].code",
                "duplicate",
            ),
            (
                |c| c.attribute_schema[0].code = "People".into(),
                "attribute_schema[0].code",
                "invalid_format",
            ),
            (
                |c| c.attribute_schema[1].kind = AttributeKind::SingleValue(vec![]),
                "attribute_schema[1].kind",
                "required",
            ),
        ];
        for (tweak, field, code) in cases {
            let mut c = good.clone();
            tweak(&mut c);
            let errs = c.validate().expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
    }

    #[test]
    fn attribute_kind_serde() {
        let k = AttributeKind::SingleValue(vec!["a".into()]);
        assert_eq!(serde_json::to_value(&k).unwrap(), json!({"single_value": ["a"]}));
        assert_eq!(serde_json::to_value(AttributeKind::Bool).unwrap(), json!("bool"));
    }
}
