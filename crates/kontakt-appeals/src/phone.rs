//! Telephone numbers: every common Ukrainian way of writing a number, normalised to E.164.
//!
//! Operators type what the caller dictates and the switch hands us whatever the carrier sent, so
//! the same subscriber arrives as `050 123 45 67`, `+38 (050) 123-45-67`, `80501234567` (the old
//! trunk prefix `8`) or `(061) 787-15-80`. Applicant search by phone only works if all of them
//! become one string, `+380501234567`, before they are stored or looked up.
//!
//! Foreign callers (displaced people abroad call the hotline too) are accepted when written in
//! international form (`+48…` or `0048…`): any 8–15 digits with a non-zero country code.

use std::fmt;
use std::str::FromStr;

/// A normalised E.164 number, e.g. `+380501234567`. Only [`normalize_phone`] makes one, so every
/// value of this type is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// Why a string is not a telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but blanks.
    #[error("phone number is empty")]
    Empty,
    /// A letter or symbol that never appears in a dictated number.
    #[error(
        "phone number contains {0:?}; only digits, spaces, '+', '-', '.', '(' and ')' are allowed"
    )]
    InvalidCharacter(char),
    /// `+` somewhere other than in front.
    #[error("'+' may only appear at the start of a phone number")]
    MisplacedPlus,
    /// Fewer digits than any complete number.
    #[error("phone number has too few digits ({0})")]
    TooShort(usize),
    /// More digits than E.164 allows.
    #[error("phone number has too many digits ({0})")]
    TooLong(usize),
    /// A Ukrainian number whose 9-digit national part cannot exist (starts with 0, 1 or 2).
    #[error("{0} is not a valid Ukrainian number")]
    InvalidUkrainian(String),
    /// Digits in no recognised Ukrainian or international layout.
    #[error("{0} is not a recognised phone number format")]
    UnrecognisedFormat(String),
}

const UA_NATIONAL_LEN: usize = 9;
const E164_MIN: usize = 8;
const E164_MAX: usize = 15;

/// Parses a telephone number written in any common Ukrainian local or international form.
///
/// Separators (spaces, non-breaking spaces, `-`, `.`, `(`, `)`) are ignored; a single leading `+`
/// is allowed; anything else (letters, `#`, `*`, `/`) is refused rather than guessed at.
///
/// Ukrainian layouts (national number = 9 digits, never starting with 0, 1 or 2):
/// `0XXXXXXXXX`, `80XXXXXXXXX`, `380XXXXXXXXX`, `+380XXXXXXXXX`, `+38 0XX…` (the same digits).
/// International: `+CC…` or `00CC…` with 8–15 digits in total.
pub fn normalize_phone(input: &str) -> Result<Phone, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut plus = false;
    let mut digits = String::with_capacity(16);
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            '+' => return Err(PhoneError::MisplacedPlus),
            ' ' | '\u{a0}' | '\u{202f}' | '\t' | '-' | '\u{2010}' | '\u{2011}' | '\u{2013}'
            | '.' | '(' | ')' => {}
            other => return Err(PhoneError::InvalidCharacter(other)),
        }
    }
    let n = digits.len();
    if n == 0 {
        return Err(PhoneError::Empty);
    }
    if n > E164_MAX + 2 {
        // Even with a `00` international prefix this cannot be a number.
        return Err(PhoneError::TooLong(n));
    }

    if plus {
        return if let Some(national) = digits.strip_prefix("380") {
            ukrainian(national, n)
        } else if let Some(national) =
            digits.strip_prefix("80").filter(|d| d.len() == UA_NATIONAL_LEN && !d.starts_with('0'))
        {
            // `+8 050 …`: a caller mixing the old trunk prefix with a plus. `+80` followed by a
            // 9-digit tail that does not start with 0 is no assigned international code (the
            // UIFN `+800` is left alone), so this can only be meant as Ukrainian.
            ukrainian(national, n)
        } else {
            international(&digits)
        };
    }
    if let Some(rest) = digits.strip_prefix("00") {
        // International call prefix used in Ukraine (and most of Europe) instead of `+`.
        return match rest.strip_prefix("380") {
            Some(national) => ukrainian(national, n),
            None => international(rest),
        };
    }
    if let Some(national) = digits.strip_prefix("380") {
        return ukrainian(national, n);
    }
    if let Some(national) = digits.strip_prefix("80").filter(|_| n == 11) {
        // The Soviet-era long-distance prefix `8`, still dictated by older callers.
        return ukrainian(national, n);
    }
    if let Some(national) = digits.strip_prefix('0') {
        return ukrainian(national, n);
    }
    if n < 10 {
        // e.g. a 7-digit city number dictated without its area code: refuse rather than guess the
        // city.
        return Err(PhoneError::TooShort(n));
    }
    Err(PhoneError::UnrecognisedFormat(digits))
}

/// `national` is what follows the country code or trunk `0`; `total` is how many digits the
/// caller typed, which is what the error reports.
fn ukrainian(national: &str, total: usize) -> Result<Phone, PhoneError> {
    // `+380 050 …` and `+38 (0) 0 50…`-style doubling of the trunk 0 is a common way of writing
    // a number; the national part never starts with 0, so the extra 0 can be dropped safely.
    let national = match national.strip_prefix('0') {
        Some(rest) if rest.len() == UA_NATIONAL_LEN => rest,
        _ => national,
    };
    let n = national.len();
    if n < UA_NATIONAL_LEN {
        return Err(PhoneError::TooShort(total));
    }
    if n > UA_NATIONAL_LEN {
        return Err(PhoneError::TooLong(total));
    }
    // Ukrainian numbering plan: geographic codes begin with 3–6, mobile with 39/5x/6x/7x/9x,
    // non-geographic services with 8 (0 800 freephone, 089). Nothing begins with 0, 1 or 2.
    match national.as_bytes().first() {
        Some(b'3'..=b'9') => Ok(Phone(format!("+380{national}"))),
        _ => Err(PhoneError::InvalidUkrainian(format!("0{national}"))),
    }
}

fn international(digits: &str) -> Result<Phone, PhoneError> {
    let n = digits.len();
    if n < E164_MIN {
        return Err(PhoneError::TooShort(n));
    }
    if n > E164_MAX {
        return Err(PhoneError::TooLong(n));
    }
    if digits.starts_with('0') {
        // E.164 country codes never begin with 0.
        return Err(PhoneError::UnrecognisedFormat(digits.to_owned()));
    }
    Ok(Phone(format!("+{digits}")))
}

/// True when the input is what a switch or a form puts in place of a hidden caller number
/// ("anonymous", "restricted", `sip:anonymous@anonymous.invalid` per RFC 3323, an empty string,
/// all zeros…). Such calls are still answered; they just cannot be matched to an applicant.
pub fn is_withheld(input: &str) -> bool {
    let t = input.trim().to_lowercase();
    if t.is_empty() {
        return true;
    }
    if t.contains("anonym") {
        return true;
    }
    const WORDS: &[&str] = &[
        "unknown",
        "restricted",
        "private",
        "private number",
        "withheld",
        "unavailable",
        "blocked",
        "hidden",
        "none",
        "null",
        "n/a",
        "p",
        "o",
        "-",
        "+",
        "приховано",
        "прихований",
        "невідомо",
        "невідомий",
        "анонім",
        "анонімно",
        "скрыт",
        "неизвестен",
    ];
    if WORDS.contains(&t.as_str()) {
        return true;
    }
    // "0", "000", "+000000": no real number is all zeros.
    let digits: Vec<char> = t.chars().filter(char::is_ascii_digit).collect();
    let only_number_chars = t.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c));
    only_number_chars && !digits.is_empty() && digits.iter().all(|&c| c == '0')
}

/// The caller's number from what the switch reports as caller id: a bare number, a `tel:` URI or
/// a `sip:user@host` URI (parameters after `;` ignored). `None` when the number is withheld or is
/// not a phone number (an extension, a SIP user name), in which case the operator asks.
pub fn phone_from_caller_id(raw: &str) -> Option<Phone> {
    if is_withheld(raw) {
        return None;
    }
    let t = raw.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = t.to_ascii_lowercase();
    let user = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|scheme| lower.starts_with(scheme).then(|| &t[scheme.len()..]))
        .unwrap_or(t);
    let user = user.split(['@', ';']).next().unwrap_or(user);
    normalize_phone(user).ok()
}

impl Phone {
    /// The E.164 string, e.g. `+380501234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a Ukrainian (`+380`) number.
    pub fn is_ukrainian(&self) -> bool {
        self.0.starts_with("+380")
    }

    /// The Ukrainian domestic form `0501234567`, or `None` for a foreign number.
    pub fn national(&self) -> Option<String> {
        self.0.strip_prefix("+38").filter(|_| self.is_ukrainian()).map(str::to_owned)
    }

    /// Consumes the value, returning the E.164 string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Phone {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalize_phone(s)
    }
}

impl serde::Serialize for Phone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    /// Accepts any form [`normalize_phone`] accepts, so stored and typed numbers both load.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        normalize_phone(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_common_form() {
        let cases: &[(&str, &str)] = &[
            ("0501234567", "+380501234567"),
            ("050 123 45 67", "+380501234567"),
            ("050-123-45-67", "+380501234567"),
            ("050.123.45.67", "+380501234567"),
            ("+380 50 123 45 67", "+380501234567"),
            ("+380501234567", "+380501234567"),
            ("380501234567", "+380501234567"),
            ("80501234567", "+380501234567"),
            ("8 (050) 123-45-67", "+380501234567"),
            ("8-050-123-45-67", "+380501234567"),
            ("+38 (050) 123-45-67", "+380501234567"),
            ("+38(050)1234567", "+380501234567"),
            ("+380 050 123 45 67", "+380501234567"),
            ("+380 (0)50 123 45 67", "+380501234567"),
            ("3800501234567", "+380501234567"),
            ("  0501234567  ", "+380501234567"),
            ("050\u{a0}123\u{a0}45\u{a0}67", "+380501234567"),
            ("00380501234567", "+380501234567"),
            ("+8 050 123 45 67", "+380501234567"),
            ("(061) 787-15-80", "+380617871580"),
            ("(0612) 12-34-56", "+380612123456"),
            ("(050) 414-15-80", "+380504141580"),
            ("061 787 15 80", "+380617871580"),
            ("(044) 123-45-67", "+380441234567"),
            ("0 800 500 609", "+380800500609"),
            ("067 123 45 67", "+380671234567"),
            ("073 123 45 67", "+380731234567"),
            ("093-123-45-67", "+380931234567"),
            ("0391234567", "+380391234567"),
            // Foreign callers in international form.
            ("+48 22 123 45 67", "+48221234567"),
            ("+49 30 1234567", "+49301234567"),
            ("0048221234567", "+48221234567"),
            ("+1 (202) 555-0143", "+12025550143"),
            ("+44 20 7946 0958", "+442079460958"),
            ("+420 601 123 456", "+420601123456"),
            ("+3726123456", "+3726123456"),
            ("+800 1234 5678", "+80012345678"),
        ];
        for (input, want) in cases {
            match normalize_phone(input) {
                Ok(p) => assert_eq!(p.as_str(), *want, "input {input:?}"),
                Err(e) => panic!("{input:?} rejected: {e}"),
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        let cases: &[(&str, PhoneError)] = &[
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("()-", PhoneError::Empty),
            ("abc", PhoneError::InvalidCharacter('a')),
            ("050123456a", PhoneError::InvalidCharacter('a')),
            ("050 123 45 67 доб. 12", PhoneError::InvalidCharacter('д')),
            ("tel:+380501234567", PhoneError::InvalidCharacter('t')),
            ("050/1234567", PhoneError::InvalidCharacter('/')),
            ("*101#", PhoneError::InvalidCharacter('*')),
            ("050+1234567", PhoneError::MisplacedPlus),
            ("++380501234567", PhoneError::MisplacedPlus),
            ("15-80", PhoneError::TooShort(4)),
            ("787-15-80", PhoneError::TooShort(7)),
            ("050123456", PhoneError::TooShort(9)),
            ("05012345678", PhoneError::TooLong(11)),
            ("+38050123456", PhoneError::TooShort(11)),
            ("+3805012345678", PhoneError::TooLong(13)),
            ("0001234567", PhoneError::UnrecognisedFormat("01234567".into())),
            ("0123456789", PhoneError::InvalidUkrainian("0123456789".into())),
            ("0201234567", PhoneError::InvalidUkrainian("0201234567".into())),
            ("+1234567", PhoneError::TooShort(7)),
            ("+1234567890123456", PhoneError::TooLong(16)),
            ("+0501234567", PhoneError::UnrecognisedFormat("0501234567".into())),
            ("1234567890", PhoneError::UnrecognisedFormat("1234567890".into())),
            ("501234567", PhoneError::TooShort(9)),
            ("123456789012345678", PhoneError::TooLong(18)),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_phone(input).as_ref(), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn withheld_markers() {
        for s in [
            "",
            "  ",
            "anonymous",
            "Anonymous",
            "sip:anonymous@anonymous.invalid",
            "unknown",
            "RESTRICTED",
            "private",
            "Withheld",
            "unavailable",
            "0",
            "000",
            "+000000",
            "приховано",
            "P",
            "O",
        ] {
            assert!(is_withheld(s), "{s:?} should be withheld");
        }
        for s in ["0501234567", "+380501234567", "15-80", "100"] {
            assert!(!is_withheld(s), "{s:?} should not be withheld");
        }
    }

    #[test]
    fn caller_id_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("0501234567", Some("+380501234567")),
            ("+380501234567", Some("+380501234567")),
            ("380501234567", Some("+380501234567")),
            ("sip:+380501234567@10.0.0.5", Some("+380501234567")),
            ("<sip:0617871580@gw.example;user=phone>", Some("+380617871580")),
            ("SIPS:0501234567@x", Some("+380501234567")),
            ("tel:+380501234567;phone-context=x", Some("+380501234567")),
            ("sip:anonymous@anonymous.invalid", None),
            ("anonymous", None),
            ("", None),
            ("1001", None),
            ("sip:operator7@pbx", None),
            ("sip:", None),
            ("тел:05", None),
        ];
        for (raw, want) in cases {
            assert_eq!(phone_from_caller_id(raw).as_ref().map(Phone::as_str), *want, "{raw:?}");
        }
    }

    #[test]
    fn accessors_and_serde() {
        let p = normalize_phone("050 123 45 67").unwrap();
        assert!(p.is_ukrainian());
        assert_eq!(p.national().as_deref(), Some("0501234567"));
        assert_eq!(p.to_string(), "+380501234567");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+380501234567\"");
        let back: Phone = serde_json::from_str("\"(050) 123-45-67\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Phone>("\"hello\"").is_err());
        let foreign = normalize_phone("+48221234567").unwrap();
        assert!(!foreign.is_ukrainian());
        assert_eq!(foreign.national(), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_output_is_e164(s in "\\PC{0,40}") {
            if let Ok(p) = normalize_phone(&s) {
                let body = p.as_str().strip_prefix('+').unwrap();
                proptest::prop_assert!(body.len() >= E164_MIN && body.len() <= E164_MAX);
                proptest::prop_assert!(body.bytes().all(|b| b.is_ascii_digit()));
                // Normalising twice is a no-op.
                proptest::prop_assert_eq!(normalize_phone(p.as_str()).unwrap(), p);
            }
        }

        #[test]
        fn any_ua_mobile_in_any_layout(code in "(39|50|63|66|67|68|73|91|92|93|94|95|96|97|98|99)", rest in "[0-9]{7}") {
            let want = format!("+380{code}{rest}");
            for input in [
                format!("0{code}{rest}"),
                format!("+380 {code} {rest}"),
                format!("8 (0{code}) {}-{}-{}", &rest[0..3], &rest[3..5], &rest[5..7]),
                format!("380{code}{rest}"),
            ] {
                let got = normalize_phone(&input).unwrap();
                proptest::prop_assert_eq!(got.as_str(), want.as_str());
            }
        }
    }
}
