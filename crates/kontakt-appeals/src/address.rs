//! Postal address of an applicant or of the place a problem is at, and the building key that
//! repeat and duplicate detection compare.
//!
//! Addresses arrive as free text typed by operators ("вул. Соборна", "Соборний просп.",
//! "пр-т Соборний"), so matching compares a normalised key rather than the raw strings.

use crate::error::{ValidationErrors, check};

/// An address down to the flat. `street` and `building` are required; the rest is optional
/// because a problem in a yard or on a road has no entrance or flat.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    /// Settlement; `None` means the deployment's own city.
    #[serde(default)]
    pub city: Option<String>,
    /// Street name, with or without its type ("вул.", "просп." …).
    pub street: String,
    /// Building number with letter or block, e.g. "12", "12а", "12/3", "12 корп. 2".
    pub building: String,
    /// Entrance (під'їзд).
    #[serde(default)]
    pub entrance: Option<String>,
    /// Flat or office.
    #[serde(default)]
    pub flat: Option<String>,
    /// Floor; negative for basements.
    #[serde(default)]
    pub floor: Option<i32>,
    /// City district, as in [`crate::seed::default_districts`].
    #[serde(default)]
    pub district: Option<String>,
    /// Latitude, WGS 84.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude, WGS 84.
    #[serde(default)]
    pub lon: Option<f64>,
}

/// Length limits, in characters.
pub const MAX_CITY: usize = 100;
/// Longest street name accepted.
pub const MAX_STREET: usize = 200;
/// Longest building designation accepted.
pub const MAX_BUILDING: usize = 30;
/// Longest entrance or flat designation accepted.
pub const MAX_UNIT: usize = 20;
/// Longest district name accepted.
pub const MAX_DISTRICT: usize = 100;
/// Lowest floor accepted (deep basements, underground shelters).
pub const MIN_FLOOR: i32 = -10;
/// Highest floor accepted.
pub const MAX_FLOOR: i32 = 100;

impl Address {
    /// Checks the address. Field paths are relative (`street`, `lat`); callers nest them under
    /// `address`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if self.street.trim().is_empty() {
            errs.push("street", "required", "street is required");
        } else {
            check::line(&mut errs, "street", &self.street, MAX_STREET);
        }
        if self.building.trim().is_empty() {
            errs.push("building", "required", "building number is required");
        } else {
            check::line(&mut errs, "building", &self.building, MAX_BUILDING);
        }
        let optional: [(&str, &Option<String>, usize); 4] = [
            ("city", &self.city, MAX_CITY),
            ("entrance", &self.entrance, MAX_UNIT),
            ("flat", &self.flat, MAX_UNIT),
            ("district", &self.district, MAX_DISTRICT),
        ];
        for (field, value, max) in optional {
            if let Some(v) = value {
                check::line(&mut errs, field, v, max);
            }
        }
        if let Some(f) = self.floor
            && !(MIN_FLOOR..=MAX_FLOOR).contains(&f)
        {
            errs.push(
                "floor",
                "out_of_range",
                format!("floor must be between {MIN_FLOOR} and {MAX_FLOOR}"),
            );
        }
        match (self.lat, self.lon) {
            (Some(_), None) => errs.push("lon", "required", "longitude is required with latitude"),
            (None, Some(_)) => errs.push("lat", "required", "latitude is required with longitude"),
            _ => {}
        }
        if let Some(lat) = self.lat
            && !(lat.is_finite() && (-90.0..=90.0).contains(&lat))
        {
            errs.push("lat", "out_of_range", "latitude must be between -90 and 90");
        }
        if let Some(lon) = self.lon
            && !(lon.is_finite() && (-180.0..=180.0).contains(&lon))
        {
            errs.push("lon", "out_of_range", "longitude must be between -180 and 180");
        }
        errs.into_result(())
    }

    /// A copy with every text field trimmed and blank optional fields turned into `None`.
    pub fn normalized(&self) -> Address {
        Address {
            city: check::trimmed(self.city.as_deref()),
            street: collapse_spaces(&self.street),
            building: collapse_spaces(&self.building),
            entrance: check::trimmed(self.entrance.as_deref()),
            flat: check::trimmed(self.flat.as_deref()),
            floor: self.floor,
            district: check::trimmed(self.district.as_deref()),
            lat: self.lat,
            lon: self.lon,
        }
    }

    /// The key that repeat and duplicate matching compare: `"street|building"`, lowercase, with
    /// street-type words ("вул.", "вулиця", "просп.", "пр-т", "бульв." …) removed wherever they
    /// stand, punctuation dropped, Latin look-alike letters mapped to Cyrillic, and the building
    /// written without spaces or dashes ("12 - А" and "12а" agree).
    ///
    /// Flat and entrance are deliberately left out: a burst riser reported from two flats of one
    /// building is the same problem.
    pub fn building_key(&self) -> String {
        building_key_of(&self.street, &self.building)
    }
}

/// The key of `building` on `street`, exactly as [`Address::building_key`] computes it (for
/// places that are not a full address, such as an outage's area).
pub fn building_key_of(street: &str, building: &str) -> String {
    format!("{}|{}", street_key(street), building_part(building))
}

/// Street-type words dropped from the key (after lowercasing and removing dots). Russian
/// spellings are here because many callers and old registries still use them.
const STREET_TYPES: &[&str] = &[
    "вул",
    "вулиця",
    "вулиці",
    "просп",
    "проспект",
    "пр",
    "прт",
    "пр-т",
    "бульв",
    "бульвар",
    "б-р",
    "бр",
    "пров",
    "провулок",
    "пров-к",
    "пл",
    "площа",
    "майдан",
    "шосе",
    "узвіз",
    "набережна",
    "наб",
    "туп",
    "тупик",
    "проїзд",
    "алея",
    "ул",
    "улица",
    "пер",
    "переулок",
    "проезд",
    "площадь",
    "street",
    "st",
    "str",
    "avenue",
    "ave",
    "ім",
    "імені",
    "им",
    "имени",
];

/// Words dropped from the building part ("буд. 12", "д. 12").
const BUILDING_WORDS: &[&str] = &["буд", "будинок", "б", "д", "дом", "no"];

/// Spellings of "block" (корпус) in a building designation, all written `к` in the key.
const BLOCK_WORDS: &[&str] = &["корпус", "корп", "кор", "к"];

/// A Latin letter in a building number is a transliterated Cyrillic one ("12b" is "12б"), not a
/// look-alike: building letters run а, б, в, г…
fn building_letter(c: char) -> char {
    match c {
        'a' => 'а',
        'b' => 'б',
        'v' => 'в',
        'g' => 'г',
        'd' => 'д',
        'e' => 'е',
        'k' => 'к',
        other => other,
    }
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Latin letters that look like Cyrillic ones, as they appear in mixed-keyboard typing.
fn latin_to_cyrillic(c: char) -> char {
    match c {
        'a' => 'а',
        'b' => 'в',
        'c' => 'с',
        'e' => 'е',
        'h' => 'н',
        'i' => 'і',
        'k' => 'к',
        'm' => 'м',
        'o' => 'о',
        'p' => 'р',
        't' => 'т',
        'x' => 'х',
        'y' => 'у',
        other => other,
    }
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04ff}').contains(&c)
}

/// Lowercases, unifies apostrophes, and turns punctuation into spaces.
fn simplify(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '\u{2019}' | '\u{02bc}' | '`' | '\u{2018}' | '\u{00b4}' => '\'',
            'ё' => 'е',
            // `|` separates street and building in the key, so it may not appear inside either.
            '.' | ',' | ';' | ':' | '"' | '«' | '»' | '(' | ')' | '|' | '№' => ' ',
            other => other,
        })
        .collect()
}

/// The street part of [`Address::building_key`] (before the `|`): what a street-wide place,
/// such as an outage covering a whole street, is matched by.
pub fn street_key(street: &str) -> String {
    let simple = simplify(street);
    let words: Vec<String> = simple
        .split_whitespace()
        .filter(|w| !STREET_TYPES.contains(w))
        .map(|w| {
            if w.chars().any(is_cyrillic) {
                w.chars().map(latin_to_cyrillic).collect()
            } else {
                w.to_owned()
            }
        })
        .collect();
    if words.is_empty() {
        // The whole street was a type word ("Майдан"): keep it rather than produce an empty key.
        return collapse_spaces(&simple);
    }
    words.join(" ")
}

fn building_part(building: &str) -> String {
    let simple = simplify(building);
    // "буд." / "б." only ever come before the number; after it, "б" is the building letter.
    let kept: Vec<&str> = simple
        .split_whitespace()
        .skip_while(|w| BUILDING_WORDS.contains(w))
        .map(|w| if BLOCK_WORDS.contains(&w) { "к" } else { w })
        .collect();
    kept.concat()
        .chars()
        .filter(|c| !matches!(c, '-' | '\u{2013}' | '\''))
        .map(building_letter)
        .map(|c| match c {
            '\\' => '/',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(street: &str, building: &str) -> Address {
        Address {
            city: None,
            street: street.into(),
            building: building.into(),
            entrance: None,
            flat: None,
            floor: None,
            district: None,
            lat: None,
            lon: None,
        }
    }

    #[test]
    fn building_keys_agree_across_spellings() {
        let groups: &[(&str, &[(&str, &str)])] = &[
            (
                "соборний|12а",
                &[
                    ("просп. Соборний", "12а"),
                    ("Соборний просп.", "12-А"),
                    ("пр-т Соборний", "12 а"),
                    ("проспект  Соборний", "буд. 12a"),
                    ("  СОБОРНИЙ ", "12А"),
                    ("пр. Соборний", "12 - а"),
                ],
            ),
            (
                "незалежної україни|5",
                &[
                    ("вул. Незалежної України", "5"),
                    ("вулиця Незалежної   України", "5"),
                    ("Незалежної України вул.", "5"),
                    ("вул. ім. Незалежної України", "буд. 5"),
                ],
            ),
            (
                "шевченка|10/2",
                &[
                    ("бульв. Шевченка", "10/2"),
                    ("бульвар Шевченка", "10\\2"),
                    ("б-р Шевченка", "10 / 2"),
                ],
            ),
            ("зелений яр|1", &[("вул. Зелений Яр", "1"), ("Зелений Яр", "1")]),
            (
                "зв'язківців|3",
                &[("вул. Зв’язківців", "3"), ("вул. Звʼязківців", "3"), ("Зв'язківців", "3")],
            ),
            ("майдан|1", &[("Майдан", "1")]),
            (
                "перемоги|12к2",
                &[
                    ("вул. Перемоги", "12 корп. 2"),
                    ("Перемоги", "12, корпус 2"),
                    ("Перемоги", "12 к.2"),
                ],
            ),
            (
                "перемоги|7б",
                &[("вул. Перемоги", "7b"), ("вул. Перемоги", "№ 7-Б"), ("вул. Перемоги", "№7б")],
            ),
            ("a b|1", &[("a|b", "1")]),
            (
                "перемоги|12б",
                &[("Перемоги", "12 б"), ("Перемоги", "б. 12б"), ("Перемоги", "буд. 12 Б")],
            ),
            ("перемоги|12д", &[("Перемоги", "д. 12 д")]),
            ("cosmonaut|7", &[("Cosmonaut str.", "7")]),
        ];
        for (want, inputs) in groups {
            for (street, building) in inputs.iter() {
                assert_eq!(addr(street, building).building_key(), *want, "{street:?} {building:?}");
            }
        }
        assert_ne!(
            addr("вул. Соборна", "12").building_key(),
            addr("вул. Соборна", "12а").building_key()
        );
    }

    #[test]
    fn validation_table() {
        let ok = addr("вул. Соборна", "12");
        assert_eq!(ok.validate(), Ok(()));
        type Tweak = fn(&mut Address);
        let cases: &[(Tweak, &str, &str)] = &[
            (|a| a.street = "  ".into(), "street", "required"),
            (|a| a.building = String::new(), "building", "required"),
            (|a| a.street = "x".repeat(MAX_STREET + 1), "street", "too_long"),
            (|a| a.building = "1".repeat(MAX_BUILDING + 1), "building", "too_long"),
            (|a| a.flat = Some("1".repeat(MAX_UNIT + 1)), "flat", "too_long"),
            (|a| a.street = "Соборна\u{0}".into(), "street", "invalid_chars"),
            (|a| a.floor = Some(101), "floor", "out_of_range"),
            (|a| a.floor = Some(-11), "floor", "out_of_range"),
            (|a| a.lat = Some(47.8), "lon", "required"),
            (|a| a.lon = Some(35.1), "lat", "required"),
            (|a| (a.lat, a.lon) = (Some(91.0), Some(35.0)), "lat", "out_of_range"),
            (|a| (a.lat, a.lon) = (Some(47.0), Some(-180.5)), "lon", "out_of_range"),
            (|a| (a.lat, a.lon) = (Some(f64::NAN), Some(35.0)), "lat", "out_of_range"),
        ];
        for (tweak, field, code) in cases {
            let mut a = ok.clone();
            tweak(&mut a);
            let errs = a.validate().expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
        let mut full = ok.clone();
        (full.lat, full.lon, full.floor) = (Some(47.8388), Some(35.1396), Some(-1));
        assert_eq!(full.validate(), Ok(()));
    }

    proptest::proptest! {
        #[test]
        fn key_never_panics_and_ignores_spacing(street in "\\PC{0,60}", building in "\\PC{0,12}") {
            let a = addr(&street, &building);
            let _ = a.validate();
            let key = a.building_key();
            let spaced = addr(&format!("  {street}  "), &format!(" {building} "));
            proptest::prop_assert_eq!(spaced.building_key(), key);
        }
    }

    #[test]
    fn normalized_trims() {
        let mut a = addr("  вул.   Соборна ", " 12 ");
        a.flat = Some("  ".into());
        a.entrance = Some(" 2 ".into());
        let n = a.normalized();
        assert_eq!(n.street, "вул. Соборна");
        assert_eq!(n.building, "12");
        assert_eq!(n.flat, None);
        assert_eq!(n.entrance.as_deref(), Some("2"));
    }
}
