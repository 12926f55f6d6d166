//! Validation errors shared by every module: a flat list of field errors with stable codes.
//!
//! The REST layer turns a [`ValidationErrors`] straight into a 4xx body, so the `code` strings are
//! part of the public contract: clients branch on them, people read `message`. Paths are dotted
//! (`questions[1].address.street`) so a form can put the message next to the right input.

use std::fmt;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `questions[1].address.street`; empty for the
    /// object as a whole.
    pub field: String,
    /// Stable machine code, one of [`ERROR_CODES`].
    pub code: &'static str,
    /// Human-readable explanation (English; the UI translates by `code`).
    pub message: String,
}

/// Every `code` a [`FieldError`] from this crate can carry:
///
/// | code | meaning |
/// |---|---|
/// | `required` | missing, blank or null |
/// | `too_short` / `too_long` | text length out of bounds (characters) |
/// | `too_many` | a list is longer than allowed |
/// | `invalid_phone` | not a phone number ([`crate::PhoneError`] in the message) |
/// | `invalid_email` | not an e-mail address |
/// | `invalid_type` | wrong JSON type |
/// | `invalid_value` | not one of the listed values |
/// | `invalid_date` | not a `YYYY-MM-DD` date |
/// | `invalid_chars` | control characters, or non-letters in a person's name |
/// | `invalid_format` | a code with the wrong syntax |
/// | `out_of_range` | a number outside its range |
/// | `not_allowed` | a field that must not be present here (e.g. an unknown attribute) |
/// | `in_future` | a time later than now plus the allowed clock skew |
/// | `not_found` | refers to something that does not exist |
/// | `not_leaf` | a category group where a leaf is needed |
/// | `inactive` | a category that takes no new questions |
/// | `mismatch` | two fields that must agree do not |
/// | `duplicate` | the same code twice |
pub const ERROR_CODES: &[&str] = &[
    "required",
    "too_short",
    "too_long",
    "too_many",
    "invalid_phone",
    "invalid_email",
    "invalid_type",
    "invalid_value",
    "invalid_date",
    "invalid_chars",
    "invalid_format",
    "out_of_range",
    "not_allowed",
    "in_future",
    "not_found",
    "not_leaf",
    "inactive",
    "mismatch",
    "duplicate",
];

/// All problems found in one input, in the order they were found. Never empty when returned as
/// an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ValidationErrors {
    /// The individual field errors.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one error. The crate's own validators use only [`ERROR_CODES`]; callers may add
    /// codes of their own.
    pub fn push(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        // In this crate's own test build, every code a validator emits must be documented.
        #[cfg(test)]
        assert!(ERROR_CODES.contains(&code), "undocumented error code {code}");
        self.errors.push(FieldError { field: field.into(), code, message: message.into() });
    }

    /// Appends `other`'s errors with `prefix` put in front of their paths
    /// (`prefix` + `.` + field, or just `prefix` for whole-object errors).
    pub fn nest(&mut self, prefix: &str, other: ValidationErrors) {
        for mut e in other.errors {
            e.field = join_path(prefix, &e.field);
            self.errors.push(e);
        }
    }

    /// Like [`nest`](Self::nest) for a `Result` coming from a nested validator.
    pub fn nest_result<T>(&mut self, prefix: &str, r: Result<T, ValidationErrors>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.nest(prefix, e);
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Number of recorded errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.errors.iter()
    }

    /// True if an error with this exact field path and code was recorded (handy in tests and
    /// for callers that react to one specific problem).
    pub fn has(&self, field: &str, code: &str) -> bool {
        self.errors.iter().any(|e| e.field == field && e.code == code)
    }

    /// `Ok(value)` when empty, `Err(self)` otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{} ({})", self.message, self.code)
        } else {
            write!(f, "{}: {} ({})", self.field, self.message, self.code)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.len() {
            0 => f.write_str("no validation errors"),
            1 => write!(f, "invalid input: {}", self.errors[0]),
            n => {
                write!(f, "invalid input ({n} problems): ")?;
                for (i, e) in self.errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ValidationErrors {}

/// Joins two dotted path segments; an index segment (`[2]`) is glued without a dot.
pub(crate) fn join_path(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if field.starts_with('[') => format!("{prefix}{field}"),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// A string that is not one of an enum's stored values. Raised by every `FromStr` of the
/// crate's enums, which parse exactly the snake_case strings the database stores.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; allowed: {}", allowed.join(", "))]
pub struct UnknownValue {
    /// Name of the enum, e.g. `channel`.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// Every accepted spelling.
    pub allowed: &'static [&'static str],
}

/// Defines a fieldless enum whose variants are stored as snake_case strings, with `as_str`,
/// `FromStr` (error [`UnknownValue`]), `Display`, `ALL` and serde in the same spelling.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every stored spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            /// The snake_case string stored in the database and used in JSON.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err($crate::error::UnknownValue {
                        kind: $kind,
                        value: s.to_owned(),
                        allowed: Self::NAMES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// Helpers for the common string checks, so every module words them the same way.
pub(crate) mod check {
    use super::ValidationErrors;

    /// True if the string contains a control character (other than none: we allow no tabs or
    /// newlines in one-line fields).
    pub(crate) fn has_control(s: &str) -> bool {
        s.chars().any(char::is_control)
    }

    /// Trims; `None` or blank becomes `None`.
    pub(crate) fn trimmed(s: Option<&str>) -> Option<String> {
        s.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
    }

    /// Checks a one-line text field: length in characters and no control characters.
    pub(crate) fn line(errs: &mut ValidationErrors, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            errs.push(field, "too_long", format!("at most {max} characters, got {n}"));
        }
        if has_control(value) {
            errs.push(field, "invalid_chars", "control characters are not allowed");
        }
    }

    /// Checks a multi-line text field: length in characters and no control characters other
    /// than newlines and tabs.
    pub(crate) fn text(
        errs: &mut ValidationErrors,
        field: &str,
        value: &str,
        min: usize,
        max: usize,
    ) {
        let n = value.trim().chars().count();
        if n == 0 {
            errs.push(field, "required", "must not be empty");
        } else if n < min {
            errs.push(field, "too_short", format!("at least {min} characters, got {n}"));
        } else if n > max {
            errs.push(field, "too_long", format!("at most {max} characters, got {n}"));
        }
        if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            errs.push(field, "invalid_chars", "control characters are not allowed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_builds_dotted_paths() {
        let mut inner = ValidationErrors::new();
        inner.push("street", "required", "x");
        inner.push("", "required", "y");
        let mut mid = ValidationErrors::new();
        mid.nest("address", inner);
        let mut outer = ValidationErrors::new();
        outer.nest("questions[1]", mid);
        assert!(outer.has("questions[1].address.street", "required"));
        assert!(outer.has("questions[1].address", "required"));
        assert_eq!(join_path("phones", "[2]"), "phones[2]");
    }

    #[test]
    fn serializes_as_array_and_displays() {
        let mut e = ValidationErrors::new();
        e.push("a.b", "too_long", "at most 3");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"field": "a.b", "code": "too_long", "message": "at most 3"}])
        );
        assert_eq!(e.to_string(), "invalid input: a.b: at most 3 (too_long)");
        e.push("", "required", "empty");
        assert!(e.to_string().starts_with("invalid input (2 problems): "));
    }
}
