//! The applicant: the person (or group, or organisation) an appeal comes from.
//!
//! Validation here is deliberately lenient about *which* identity details are present: a phone
//! call may start with nothing but the caller's number, and the operator completes the record
//! while talking. Whether an appeal is complete enough for the Law (Art. 5 of Law 393/96:
//! surname, name, patronymic, place of residence) is reported by
//! [`ValidApplicant::art5_missing`] and decided at the appeal level, because an incomplete
//! appeal is returned within 10 days, not refused at the keyboard.

pub use crate::address::Address;
use crate::error::{ValidationErrors, check, string_enum};
use crate::phone::{Phone, normalize_phone};

string_enum! {
    /// Who is appealing. Art. 5 of Law 393/96 allows individual and collective appeals;
    /// organisations (a housing co-operative, a school) write in too.
    pub enum ApplicantKind ("applicant kind") {
        /// One citizen.
        Individual = "individual",
        /// A group of citizens signing together (Art. 5).
        Collective = "collective",
        /// A legal entity or its representative.
        Organisation = "organisation",
    }
}

string_enum! {
    /// Statutory benefit categories. They give priority consideration (Art. 20 of Law 393/96,
    /// Presidential Decree 109/2008) and reception out of turn (Art. 22). Stored per applicant
    /// from what the applicant states; proof is checked by people, not here.
    pub enum Privilege ("privilege") {
        /// Hero of Ukraine (Герой України).
        HeroOfUkraine = "hero_of_ukraine",
        /// Hero of the Soviet Union (Герой Радянського Союзу).
        HeroOfSovietUnion = "hero_of_soviet_union",
        /// Hero of Socialist Labour (Герой Соціалістичної Праці).
        HeroOfSocialistLabour = "hero_of_socialist_labour",
        /// Combatant (учасник бойових дій, УБД).
        Combatant = "combatant",
        /// Person with a disability caused by war (особа з інвалідністю внаслідок війни).
        WarDisabled = "war_disabled",
        /// War participant (учасник війни).
        WarParticipant = "war_participant",
        /// War veteran in general (ветеран війни).
        WarVeteran = "war_veteran",
        /// Family member of a fallen (deceased) defender or war veteran.
        FamilyOfFallenDefender = "family_of_fallen_defender",
        /// Person released from captivity (особа, звільнена з полону).
        ReleasedFromCaptivity = "released_from_captivity",
        /// Person with a disability, group I.
        #[serde(rename = "disability_group_1")]
        DisabilityGroup1 = "disability_group_1",
        /// Person with a disability, group II.
        #[serde(rename = "disability_group_2")]
        DisabilityGroup2 = "disability_group_2",
        /// Person with a disability, group III.
        #[serde(rename = "disability_group_3")]
        DisabilityGroup3 = "disability_group_3",
        /// Child with a disability (or a parent applying for one).
        ChildWithDisability = "child_with_disability",
        /// Person affected by the Chornobyl disaster (постраждалий внаслідок ЧАЕС).
        Chornobyl = "chornobyl",
        /// Large family (багатодітна сім'я).
        LargeFamily = "large_family",
        /// Child of war (дитина війни).
        ChildOfWar = "child_of_war",
        /// Victim of Nazi persecution.
        VictimOfNaziPersecution = "victim_of_nazi_persecution",
        /// Rehabilitated victim of political repression.
        RehabilitatedRepressed = "rehabilitated_repressed",
        /// Orphan or child deprived of parental care.
        Orphan = "orphan",
        /// Labour veteran (ветеран праці).
        LabourVeteran = "labour_veteran",
        /// Internally displaced person (ВПО).
        InternallyDisplaced = "internally_displaced",
    }
}

impl Privilege {
    /// Received by officials out of turn at personal reception (Art. 22 of Law 393/96 names
    /// Heroes and persons disabled by war; Decree 109/2008 adds combatants).
    pub fn out_of_turn_reception(&self) -> bool {
        matches!(
            self,
            Privilege::HeroOfUkraine
                | Privilege::HeroOfSovietUnion
                | Privilege::HeroOfSocialistLabour
                | Privilege::WarDisabled
                | Privilege::Combatant
        )
    }

    /// Considered first in the work queue (Art. 20 of Law 393/96: "applicants with statutory
    /// privileges are handled first"). Labour veterans and displaced persons have social benefits
    /// but no statutory priority for appeals, so they do not jump the queue.
    pub fn priority_consideration(&self) -> bool {
        !matches!(self, Privilege::LabourVeteran | Privilege::InternallyDisplaced)
    }
}

string_enum! {
    /// How sure we are of who the applicant is (appeals.md §10): a phone call gives none, a
    /// confirmed e-mail or call-back gives `contact_verified`, a social login `social`, and
    /// id.gov.ua / BankID / Diia give `gov_eid`.
    pub enum AssuranceLevel ("assurance level") {
        /// Identity as stated.
        None = "none",
        /// A phone number or e-mail was confirmed.
        ContactVerified = "contact_verified",
        /// Logged in with a social or OIDC account.
        Social = "social",
        /// Government electronic identification.
        GovEid = "gov_eid",
    }
}

/// An applicant as typed by an operator or a form; raw and unchecked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewApplicant {
    /// Surname (прізвище), or an organisation's name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Given name (ім'я).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Patronymic (по батькові).
    #[serde(default)]
    pub patronymic: Option<String>,
    /// Phone numbers as typed; [`validate`](Self::validate) normalises them to E.164.
    #[serde(default)]
    pub phones: Vec<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Place of residence (Art. 5 requires it for a formal appeal).
    #[serde(default)]
    pub address: Option<Address>,
    /// Individual, collective or organisation.
    pub kind: ApplicantKind,
    /// Statutory benefit categories the applicant states.
    #[serde(default)]
    pub privileges: Vec<Privilege>,
    /// Art. 10: name and address must not be disclosed to third parties (executors see only
    /// what they need to do the work).
    #[serde(default)]
    pub confidential: bool,
    /// How the identity was established.
    pub assurance: AssuranceLevel,
}

/// A checked applicant: names trimmed, phones normalised and de-duplicated, e-mail lowercased,
/// address trimmed, privileges de-duplicated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidApplicant {
    /// Surname, or an organisation's name.
    pub last_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Patronymic.
    pub patronymic: Option<String>,
    /// Normalised phone numbers, first one is the main number.
    pub phones: Vec<Phone>,
    /// E-mail address, lowercased.
    pub email: Option<String>,
    /// Place of residence.
    pub address: Option<Address>,
    /// Individual, collective or organisation.
    pub kind: ApplicantKind,
    /// De-duplicated privileges, in the order given.
    pub privileges: Vec<Privilege>,
    /// Art. 10 confidentiality flag.
    pub confidential: bool,
    /// How the identity was established.
    pub assurance: AssuranceLevel,
}

/// Longest accepted name part, in characters.
pub const MAX_NAME: usize = 100;
/// Longest organisation or collective name (kept in `last_name`).
pub const MAX_ORG_NAME: usize = 300;
/// Most phone numbers kept per applicant.
pub const MAX_PHONES: usize = 5;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL: usize = 254;

impl NewApplicant {
    /// Checks and normalises the applicant. All problems are reported at once.
    pub fn validate(self) -> Result<ValidApplicant, ValidationErrors> {
        let mut errs = ValidationErrors::new();

        let last_max = if self.kind == ApplicantKind::Individual { MAX_NAME } else { MAX_ORG_NAME };
        let last_name = self.name_part(&mut errs, "last_name", self.last_name.as_deref(), last_max);
        let first_name =
            self.name_part(&mut errs, "first_name", self.first_name.as_deref(), MAX_NAME);
        let patronymic =
            self.name_part(&mut errs, "patronymic", self.patronymic.as_deref(), MAX_NAME);

        let mut phones: Vec<Phone> = Vec::new();
        for (i, raw) in self.phones.iter().enumerate() {
            match normalize_phone(raw) {
                Ok(p) if !phones.contains(&p) => phones.push(p),
                Ok(_) => {}
                Err(e) => errs.push(format!("phones[{i}]"), "invalid_phone", e.to_string()),
            }
        }
        if phones.len() > MAX_PHONES {
            errs.push("phones", "too_many", format!("at most {MAX_PHONES} phone numbers"));
        }

        let email = check::trimmed(self.email.as_deref()).map(|e| e.to_lowercase());
        if let Some(e) = &email
            && let Err(msg) = check_email(e)
        {
            errs.push("email", "invalid_email", msg);
        }

        let address = self.address.as_ref().map(Address::normalized);
        if let Some(a) = &address {
            errs.nest_result("address", a.validate());
        }

        if last_name.is_none()
            && first_name.is_none()
            && patronymic.is_none()
            && phones.is_empty()
            && email.is_none()
            && address.is_none()
            && errs.is_empty()
        {
            // Nothing at all to tell who this is: that is an anonymous appeal, which exists only
            // as an incident report without an applicant record (Art. 8).
            errs.push(
                "",
                "required",
                "an applicant needs at least a name, a phone, an e-mail or an address",
            );
        }

        let mut privileges = Vec::with_capacity(self.privileges.len());
        for p in &self.privileges {
            if !privileges.contains(p) {
                privileges.push(*p);
            }
        }

        errs.into_result(ValidApplicant {
            last_name,
            first_name,
            patronymic,
            phones,
            email,
            address,
            kind: self.kind,
            privileges,
            confidential: self.confidential,
            assurance: self.assurance,
        })
    }

    fn name_part(
        &self,
        errs: &mut ValidationErrors,
        field: &str,
        raw: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let value = raw
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())?;
        check::line(errs, field, &value, max);
        // A person's name is letters, spaces, hyphens, apostrophes and dots (initials). An
        // organisation's name may carry digits and quotes ("ОСББ «Соборний 12»").
        if self.kind == ApplicantKind::Individual
            && !value.chars().all(|c| c.is_alphabetic() || " -.'’ʼ`".contains(c))
            && !check::has_control(&value)
        {
            errs.push(
                field,
                "invalid_chars",
                "a name may contain only letters, spaces, hyphens and apostrophes",
            );
        }
        Some(value)
    }
}

/// A pragmatic e-mail check: one `@`, a non-empty local part of at most 64 characters, a domain
/// with a dot and no empty labels, no spaces. Deliverability is proven by sending, not here.
fn check_email(e: &str) -> Result<(), String> {
    if e.chars().count() > MAX_EMAIL {
        return Err(format!("at most {MAX_EMAIL} characters"));
    }
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces".into());
    }
    let Some((local, domain)) = e.split_once('@') else {
        return Err("must contain '@'".into());
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err("invalid part before '@'".into());
    }
    if !domain.contains('.')
        || domain.split('.').any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return Err("invalid domain".into());
    }
    Ok(())
}

impl ValidApplicant {
    /// The Art. 5 identity elements of a formal appeal that are missing, as field names
    /// (`last_name`, `first_name`, `patronymic`, `address`). For an organisation only its name
    /// (`last_name`) and address count. An empty list means the appeal is not malformed on this
    /// account; a non-empty one means it is returned within 10 days (Art. 5) unless completed.
    pub fn art5_missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.last_name.is_none() {
            missing.push("last_name");
        }
        if self.kind != ApplicantKind::Organisation {
            if self.first_name.is_none() {
                missing.push("first_name");
            }
            // Foreigners may have no patronymic; we still report it and let the operator decide.
            if self.patronymic.is_none() {
                missing.push("patronymic");
            }
        }
        if self.address.is_none() {
            missing.push("address");
        }
        missing
    }

    /// "Прізвище Ім'я По батькові" from whatever parts are present; empty if none.
    pub fn full_name(&self) -> String {
        [&self.last_name, &self.first_name, &self.patronymic]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// True if any stated privilege gives priority consideration (Art. 20).
    pub fn has_priority(&self) -> bool {
        self.privileges.iter().any(Privilege::priority_consideration)
    }

    /// True if any stated privilege gives reception out of turn (Art. 22).
    pub fn out_of_turn_reception(&self) -> bool {
        self.privileges.iter().any(Privilege::out_of_turn_reception)
    }

    /// The main phone number, if any.
    pub fn main_phone(&self) -> Option<&Phone> {
        self.phones.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewApplicant {
        NewApplicant {
            last_name: Some("Шевченко".into()),
            first_name: Some("Олена".into()),
            patronymic: Some("Петрівна".into()),
            phones: vec!["050 123 45 67".into()],
            email: None,
            address: Some(Address {
                city: None,
                street: "вул. Соборна".into(),
                building: "12".into(),
                entrance: Some("2".into()),
                flat: Some("45".into()),
                floor: Some(5),
                district: Some("Олександрівський".into()),
                lat: None,
                lon: None,
            }),
            kind: ApplicantKind::Individual,
            privileges: vec![],
            confidential: false,
            assurance: AssuranceLevel::None,
        }
    }

    #[test]
    fn valid_applicant_is_normalised() {
        let mut a = base();
        a.last_name = Some("  Шевченко ".into());
        a.first_name = Some("Марія-Олена".into());
        a.phones = vec!["0501234567".into(), "+380 50 123 45 67".into(), "(061) 787-15-80".into()];
        a.email = Some(" Olena@Example.COM ".into());
        a.privileges = vec![Privilege::Combatant, Privilege::Combatant, Privilege::LargeFamily];
        let v = a.validate().unwrap();
        assert_eq!(v.last_name.as_deref(), Some("Шевченко"));
        assert_eq!(
            v.phones.iter().map(Phone::as_str).collect::<Vec<_>>(),
            ["+380501234567", "+380617871580"]
        );
        assert_eq!(v.email.as_deref(), Some("olena@example.com"));
        assert_eq!(v.privileges, [Privilege::Combatant, Privilege::LargeFamily]);
        assert!(v.has_priority());
        assert!(v.out_of_turn_reception());
        assert_eq!(v.full_name(), "Шевченко Марія-Олена Петрівна");
        assert!(v.art5_missing().is_empty());
        assert_eq!(v.main_phone().map(Phone::as_str), Some("+380501234567"));
    }

    #[test]
    fn phone_only_applicant_is_valid_but_not_art5_complete() {
        let a = NewApplicant {
            last_name: None,
            first_name: None,
            patronymic: None,
            phones: vec!["80501234567".into()],
            email: None,
            address: None,
            kind: ApplicantKind::Individual,
            privileges: vec![],
            confidential: false,
            assurance: AssuranceLevel::None,
        };
        let v = a.validate().unwrap();
        assert_eq!(v.art5_missing(), ["last_name", "first_name", "patronymic", "address"]);
        assert!(!v.has_priority());
    }

    #[test]
    fn rejections_table() {
        type Tweak = fn(&mut NewApplicant);
        let cases: &[(Tweak, &str, &str)] = &[
            (
                |a| a.phones = vec!["0501234567".into(), "hello".into()],
                "phones[1]",
                "invalid_phone",
            ),
            (|a| a.phones = vec!["123".into()], "phones[0]", "invalid_phone"),
            (
                |a| a.phones = (0..6).map(|i| format!("050123456{i}")).collect(),
                "phones",
                "too_many",
            ),
            (|a| a.email = Some("not-an-email".into()), "email", "invalid_email"),
            (|a| a.email = Some("a@b".into()), "email", "invalid_email"),
            (|a| a.email = Some("a b@c.ua".into()), "email", "invalid_email"),
            (|a| a.email = Some("a@@c.ua".into()), "email", "invalid_email"),
            (|a| a.last_name = Some("Ш".repeat(MAX_NAME + 1)), "last_name", "too_long"),
            (|a| a.first_name = Some("Олена2".into()), "first_name", "invalid_chars"),
            (|a| a.first_name = Some("<script>".into()), "first_name", "invalid_chars"),
            (|a| a.patronymic = Some("Петрівна\u{7}".into()), "patronymic", "invalid_chars"),
            (
                |a| {
                    if let Some(addr) = a.address.as_mut() {
                        addr.street = " ".into();
                    }
                },
                "address.street",
                "required",
            ),
            (
                |a| {
                    if let Some(addr) = a.address.as_mut() {
                        addr.lat = Some(100.0);
                        addr.lon = Some(35.0);
                    }
                },
                "address.lat",
                "out_of_range",
            ),
            (
                |a| {
                    a.last_name = None;
                    a.first_name = Some(" ".into());
                    a.patronymic = None;
                    a.phones = vec![];
                    a.address = None;
                },
                "",
                "required",
            ),
        ];
        for (tweak, field, code) in cases {
            let mut a = base();
            tweak(&mut a);
            let errs = a.validate().expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
    }

    #[test]
    fn organisation_names_may_have_digits() {
        let mut a = base();
        a.kind = ApplicantKind::Organisation;
        a.last_name = Some("ОСББ «Соборний 12»".into());
        a.first_name = None;
        a.patronymic = None;
        let v = a.validate().unwrap();
        assert!(v.art5_missing().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn validate_never_panics(
            last in proptest::option::of("\\PC{0,120}"),
            phone in "\\PC{0,20}",
            email in proptest::option::of("\\PC{0,30}"),
        ) {
            let mut a = base();
            a.last_name = last;
            a.phones = vec![phone];
            a.email = email;
            if let Ok(v) = a.validate() {
                proptest::prop_assert!(v.phones.iter().all(|p| p.as_str().starts_with('+')));
            }
        }
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut a = base();
        a.phones = vec!["x".into(), "y".into()];
        a.email = Some("bad".into());
        let errs = a.validate().unwrap_err();
        assert_eq!(errs.len(), 3, "{errs}");
    }
}
