//! The appeal: one contact event, one legal "звернення" under Law 393/96, holding one or more
//! questions. Carries the registration number, channel, legal kind and answer channel.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};

use crate::applicant::ValidApplicant;
use crate::category::Category;
use crate::error::{ValidationErrors, check, string_enum};
use crate::question::{CLOCK_SKEW, NewQuestion, validate_question};

string_enum! {
    /// How the appeal reached us.
    pub enum Channel ("channel") {
        /// A call to the hotline (Art. 5 allows oral appeals via contact centres).
        Phone = "phone",
        /// The web cabinet or form.
        Web = "web",
        /// E-mail.
        Email = "email",
        /// Paper mail.
        Post = "post",
        /// A messenger chat-bot.
        Bot = "bot",
        /// An Open311 client.
        Open311 = "open311",
        /// Forwarded by another body (Art. 7).
        Forwarded = "forwarded",
        /// Personal reception by an official (Art. 22).
        PersonalReception = "personal_reception",
    }
}

impl Channel {
    /// Electronic appeals must give an e-mail or other contact for the answer (Art. 5 as amended
    /// by Law 577-VIII); no e-signature is needed.
    pub fn is_electronic(&self) -> bool {
        matches!(self, Channel::Web | Channel::Email | Channel::Bot | Channel::Open311)
    }
}

string_enum! {
    /// The appeal's type under Art. 3 of Law 393/96, plus incident reports outside the Law.
    pub enum LegalKind ("legal kind") {
        /// Пропозиція (зауваження): advice on improving activity.
        Proposal = "proposal",
        /// Заява (клопотання): a request to help realise a right or to fix a shortcoming.
        Application = "application",
        /// Скарга: a demand to restore violated rights (Art. 16–17 path).
        Complaint = "complaint",
        /// An anonymous or emergency report acted on without a legal answer (Art. 8 excludes
        /// anonymous appeals from the Law, not from the repair crew).
        IncidentReport = "incident_report",
    }
}

impl LegalKind {
    /// Covered by Law 393/96: a legal answer and Art. 20 terms are owed.
    pub fn under_law(&self) -> bool {
        *self != LegalKind::IncidentReport
    }
}

string_enum! {
    /// How the applicant wants the answer (Art. 19: answer in the form the applicant chose).
    pub enum AnswerChannel ("answer channel") {
        /// A call back.
        Phone = "phone",
        /// E-mail.
        Email = "email",
        /// Paper mail.
        Post = "post",
        /// The citizen's web cabinet.
        Cabinet = "cabinet",
    }
}

/// Registration number `YYYY-NNNNNN`: the year of registration and a sequence that restarts at
/// 1 every year (CMU resolution 348/1997 record-keeping practice). Serialised as the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegNo {
    /// Year of registration (1000..=9999).
    pub year: i32,
    /// Sequence within the year (1..=999999).
    pub seq: u32,
}

/// Largest sequence number a year can hold.
pub const MAX_REG_SEQ: u32 = 999_999;

/// A registration number that is malformed or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegNoError {
    /// Not `YYYY-NNNNNN`.
    #[error("registration number {0:?} is not in the form YYYY-NNNNNN")]
    Format(String),
    /// Year outside 1000..=9999.
    #[error("year {0} is out of range")]
    Year(i32),
    /// Sequence 0 or above 999999.
    #[error("sequence {0} is out of range 1..=999999")]
    Seq(u32),
    /// The year's numbers are used up.
    #[error("registration numbers for {0} are exhausted")]
    Exhausted(i32),
}

impl RegNo {
    /// Checks the ranges.
    pub fn new(year: i32, seq: u32) -> Result<RegNo, RegNoError> {
        if !(1000..=9999).contains(&year) {
            return Err(RegNoError::Year(year));
        }
        if !(1..=MAX_REG_SEQ).contains(&seq) {
            return Err(RegNoError::Seq(seq));
        }
        Ok(RegNo { year, seq })
    }

    /// The number following `last` for an appeal registered in `year`: the sequence restarts
    /// at 1 when the year changes. `last` is the highest number issued so far (any year).
    pub fn next_after(last: Option<RegNo>, year: i32) -> Result<RegNo, RegNoError> {
        match last {
            Some(l) if l.year == year => {
                if l.seq >= MAX_REG_SEQ {
                    Err(RegNoError::Exhausted(year))
                } else {
                    RegNo::new(year, l.seq + 1)
                }
            }
            _ => RegNo::new(year, 1),
        }
    }

    /// The registration year of an appeal registered at `registered_at`, in Kyiv time (an appeal
    /// registered at 00:30 on 1 January Kyiv time belongs to the new year).
    pub fn year_of(registered_at: DateTime<Utc>) -> i32 {
        crate::deadline::local_date(registered_at).year()
    }

    /// The number of the `k`-th question (1-based) of this appeal: `YYYY-NNNNNN/k`.
    pub fn question_no(&self, k: u32) -> String {
        format!("{self}/{k}")
    }
}

impl fmt::Display for RegNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.seq)
    }
}

impl FromStr for RegNo {
    type Err = RegNoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RegNoError::Format(s.to_owned());
        let (y, n) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4
            || n.len() != 6
            || !y.bytes().all(|b| b.is_ascii_digit())
            || !n.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let seq: u32 = n.parse().map_err(|_| bad())?;
        RegNo::new(year, seq)
    }
}

impl serde::Serialize for RegNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RegNo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An appeal as registered by an operator or a form; the applicant is stored separately and
/// only its presence matters here.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewAppeal {
    /// How it came in.
    pub channel: Channel,
    /// Type under Art. 3.
    pub legal_kind: LegalKind,
    /// When it reached us; the legal clock starts here.
    pub received_at: DateTime<Utc>,
    /// How the applicant wants the answer.
    #[serde(default)]
    pub answer_channel: Option<AnswerChannel>,
    /// An applicant record is attached.
    pub applicant_present: bool,
    /// A collective appeal (Art. 5).
    #[serde(default)]
    pub collective: bool,
    /// Switch call id, for phone appeals.
    #[serde(default)]
    pub call_id: Option<String>,
    /// The problems raised.
    pub questions: Vec<NewQuestion>,
}

/// Most questions one appeal may carry.
pub const MAX_QUESTIONS: usize = 20;
/// Longest call id.
pub const MAX_CALL_ID: usize = 128;

impl NewAppeal {
    /// Checks the appeal itself (not its questions against categories; see
    /// [`validate_with_categories`](Self::validate_with_categories)):
    /// - 1..=20 questions;
    /// - `received_at` not more than 5 minutes in the future;
    /// - no applicant only for an incident report: a formal appeal without an author is
    ///   anonymous and not considered (Art. 8 of Law 393/96);
    /// - a collective appeal needs its applicant (the first signatory) (Art. 5);
    /// - an answer channel only when there is someone to answer;
    /// - `call_id` non-blank and bounded when given.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if self.questions.is_empty() {
            errs.push("questions", "required", "an appeal needs at least one question");
        } else if self.questions.len() > MAX_QUESTIONS {
            errs.push(
                "questions",
                "too_many",
                format!("at most {MAX_QUESTIONS} questions per appeal"),
            );
        }
        if self.received_at > now + CLOCK_SKEW {
            errs.push("received_at", "in_future", "an appeal cannot be received in the future");
        }
        if !self.applicant_present {
            if self.legal_kind.under_law() {
                errs.push(
                    "applicant",
                    "required",
                    "an appeal without an applicant is anonymous and not considered (Art. 8 of Law 393/96); register it as an incident report",
                );
            }
            if self.collective {
                errs.push("collective", "not_allowed", "a collective appeal needs its applicant");
            }
            if self.answer_channel.is_some() {
                errs.push(
                    "answer_channel",
                    "not_allowed",
                    "there is nobody to answer without an applicant",
                );
            }
        }
        if let Some(id) = &self.call_id {
            if id.trim().is_empty() {
                errs.push("call_id", "required", "call id must not be blank when given");
            }
            check::line(&mut errs, "call_id", id, MAX_CALL_ID);
        }
        errs.into_result(())
    }

    /// [`validate`](Self::validate) plus every question against its category, looked up with
    /// `category_of` (paths `questions[i].…`). An unknown category is `questions[i].category_code`
    /// / `not_found`.
    pub fn validate_with_categories<'c>(
        &self,
        now: DateTime<Utc>,
        category_of: impl Fn(&str) -> Option<&'c Category>,
    ) -> Result<(), ValidationErrors> {
        let mut errs = self.validate(now).err().unwrap_or_default();
        for (i, q) in self.questions.iter().enumerate().take(MAX_QUESTIONS) {
            let at = format!("questions[{i}]");
            match category_of(&q.category_code) {
                Some(c) => {
                    errs.nest_result(&at, validate_question(q, c, now));
                }
                None => errs.push(
                    format!("{at}.category_code"),
                    "not_found",
                    format!("unknown category {:?}", q.category_code),
                ),
            }
        }
        errs.into_result(())
    }
}

impl NewAppeal {
    /// Checks the appeal against its (validated) applicant:
    /// - the chosen answer channel is reachable: an e-mail for `email`, a phone for `phone`, an
    ///   address for `post` (Art. 19: the answer goes the way the applicant chose);
    /// - an electronic appeal gives an e-mail or other contact for the answer (Art. 5 as amended
    ///   by Law 577-VIII);
    /// - a collective appeal comes from a collective or organisation applicant, or an individual
    ///   who signs first.
    ///
    /// Paths point at the applicant's fields (`applicant.email`), since that is what the operator
    /// must complete.
    pub fn check_applicant(&self, applicant: &ValidApplicant) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        match self.answer_channel {
            Some(AnswerChannel::Email) if applicant.email.is_none() => {
                errs.push(
                    "applicant.email",
                    "required",
                    "the answer is to go by e-mail, but there is no e-mail",
                );
            }
            Some(AnswerChannel::Phone) if applicant.phones.is_empty() => {
                errs.push(
                    "applicant.phones",
                    "required",
                    "the answer is to go by phone, but there is no phone",
                );
            }
            Some(AnswerChannel::Post) if applicant.address.is_none() => {
                errs.push(
                    "applicant.address",
                    "required",
                    "the answer is to go by post, but there is no address",
                );
            }
            _ => {}
        }
        if self.channel.is_electronic() && applicant.email.is_none() && applicant.phones.is_empty()
        {
            errs.push(
                "applicant.email",
                "required",
                "an electronic appeal must give an e-mail or other contact for the answer (Art. 5 of Law 393/96)",
            );
        }
        errs.into_result(())
    }

    /// The Art. 5 elements this formal appeal lacks (`applicant.last_name`, …, `questions` when
    /// no question has a description). An appeal with any missing is returned with an explanation
    /// within 10 days ([`crate::deadline::return_malformed_due`]) unless the operator completes
    /// it. Incident reports are outside the Law and never malformed.
    pub fn art5_missing(&self, applicant: Option<&ValidApplicant>) -> Vec<String> {
        if !self.legal_kind.under_law() {
            return Vec::new();
        }
        let mut missing: Vec<String> = match applicant {
            Some(a) => a.art5_missing().into_iter().map(|f| format!("applicant.{f}")).collect(),
            None => vec!["applicant".to_owned()],
        };
        if self.questions.iter().all(|q| q.description.trim().is_empty()) {
            missing.push("questions".to_owned());
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::default_categories;
    use chrono::TimeDelta;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn question(code: &str, attrs: serde_json::Value) -> NewQuestion {
        NewQuestion {
            category_code: code.into(),
            description: "Немає холодної води з ранку".into(),
            attributes: attrs,
            address: None,
            object_ref: None,
            emergency: None,
        }
    }

    fn appeal() -> NewAppeal {
        NewAppeal {
            channel: Channel::Phone,
            legal_kind: LegalKind::Application,
            received_at: now() - TimeDelta::minutes(3),
            answer_channel: Some(AnswerChannel::Phone),
            applicant_present: true,
            collective: false,
            call_id: Some("7f1c2a".into()),
            questions: vec![question("water.no_cold_water", json!({"scope": "building"}))],
        }
    }

    #[test]
    fn reg_no_format_and_parse() {
        let r = RegNo::new(2026, 42).unwrap();
        assert_eq!(r.to_string(), "2026-000042");
        assert_eq!("2026-000042".parse::<RegNo>(), Ok(r));
        assert_eq!(RegNo::new(2026, 999_999).unwrap().to_string(), "2026-999999");
        assert_eq!(r.question_no(2), "2026-000042/2");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"2026-000042\"");
        assert_eq!(serde_json::from_str::<RegNo>("\"2026-000042\"").unwrap(), r);
        for bad in [
            "",
            "2026",
            "2026-42",
            "2026-0000042",
            "26-000042",
            "2026-000000",
            "2026_000001",
            "2026-00004a",
            "+026-000001",
            "0999-000001",
            "2026-+00001",
        ] {
            assert!(bad.parse::<RegNo>().is_err(), "{bad:?}");
        }
        assert_eq!(RegNo::new(2026, 0), Err(RegNoError::Seq(0)));
        assert_eq!(RegNo::new(2026, 1_000_000), Err(RegNoError::Seq(1_000_000)));
        assert_eq!(RegNo::new(10_000, 1), Err(RegNoError::Year(10_000)));
    }

    #[test]
    fn reg_no_restarts_each_year() {
        type Case = (Option<(i32, u32)>, i32, Result<(i32, u32), RegNoError>);
        let cases: &[Case] = &[
            (None, 2026, Ok((2026, 1))),
            (Some((2026, 41)), 2026, Ok((2026, 42))),
            (Some((2025, 84_000)), 2026, Ok((2026, 1))),
            (Some((2026, 999_999)), 2026, Err(RegNoError::Exhausted(2026))),
        ];
        for (last, year, want) in cases {
            let last = last.map(|(y, s)| RegNo { year: y, seq: s });
            assert_eq!(
                RegNo::next_after(last, *year),
                want.clone().map(|(y, s)| RegNo { year: y, seq: s })
            );
        }
        let new_year =
            DateTime::parse_from_rfc3339("2026-12-31T22:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(RegNo::year_of(new_year), 2027, "00:30 Kyiv on 1 January is the new year");
        assert!(RegNo { year: 2026, seq: 2 } < RegNo { year: 2027, seq: 1 });
    }

    #[test]
    fn appeal_rules_table() {
        assert_eq!(appeal().validate(now()), Ok(()));
        type Tweak = fn(&mut NewAppeal);
        let cases: &[(Tweak, &str, &str)] = &[
            (|a| a.questions.clear(), "questions", "required"),
            (
                |a| a.questions = vec![a.questions[0].clone(); MAX_QUESTIONS + 1],
                "questions",
                "too_many",
            ),
            (|a| a.received_at = now() + TimeDelta::minutes(6), "received_at", "in_future"),
            (|a| a.applicant_present = false, "applicant", "required"),
            (
                |a| {
                    a.applicant_present = false;
                    a.legal_kind = LegalKind::IncidentReport;
                    a.collective = true;
                    a.answer_channel = None;
                },
                "collective",
                "not_allowed",
            ),
            (
                |a| {
                    a.applicant_present = false;
                    a.legal_kind = LegalKind::IncidentReport;
                },
                "answer_channel",
                "not_allowed",
            ),
            (|a| a.call_id = Some("  ".into()), "call_id", "required"),
            (|a| a.call_id = Some("x".repeat(MAX_CALL_ID + 1)), "call_id", "too_long"),
        ];
        for (tweak, field, code) in cases {
            let mut a = appeal();
            tweak(&mut a);
            let errs = a.validate(now()).expect_err("should fail");
            assert!(errs.has(field, code), "{field} {code}: got {errs}");
        }
        // Anonymous incident report: allowed (Art. 8 covers formal appeals only).
        let mut anon = appeal();
        anon.applicant_present = false;
        anon.legal_kind = LegalKind::IncidentReport;
        anon.answer_channel = None;
        assert_eq!(anon.validate(now()), Ok(()));
        // Within skew.
        let mut skew = appeal();
        skew.received_at = now() + TimeDelta::minutes(4);
        assert_eq!(skew.validate(now()), Ok(()));
    }

    #[test]
    fn validates_questions_with_categories() {
        let cats = default_categories();
        let lookup = |code: &str| cats.iter().find(|c| c.code == code);
        assert_eq!(appeal().validate_with_categories(now(), lookup), Ok(()));

        let mut a = appeal();
        a.questions.push(question("lift.stopped", json!({})));
        a.questions.push(question("nope.nothing", json!({})));
        a.questions.push(question("water", json!({})));
        let errs = a.validate_with_categories(now(), lookup).unwrap_err();
        assert!(errs.has("questions[1].attributes.people_inside", "required"), "{errs}");
        assert!(errs.has("questions[2].category_code", "not_found"), "{errs}");
        assert!(errs.has("questions[3].category_code", "not_leaf"), "{errs}");

        let mut empty = appeal();
        empty.questions.clear();
        assert!(
            empty.validate_with_categories(now(), lookup).unwrap_err().has("questions", "required")
        );
    }

    fn applicant() -> ValidApplicant {
        crate::applicant::NewApplicant {
            last_name: Some("Коваленко".into()),
            first_name: Some("Іван".into()),
            patronymic: Some("Петрович".into()),
            phones: vec!["0671234567".into()],
            email: None,
            address: None,
            kind: crate::applicant::ApplicantKind::Individual,
            privileges: vec![],
            confidential: false,
            assurance: crate::applicant::AssuranceLevel::None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn applicant_fits_the_appeal() {
        let a = applicant();
        assert_eq!(appeal().check_applicant(&a), Ok(()));
        type Tweak = fn(&mut NewAppeal, &mut ValidApplicant);
        let cases: &[(Tweak, &str)] = &[
            (|ap, _| ap.answer_channel = Some(AnswerChannel::Email), "applicant.email"),
            (|ap, _| ap.answer_channel = Some(AnswerChannel::Post), "applicant.address"),
            (|_, a| a.phones.clear(), "applicant.phones"),
            (
                |ap, a| {
                    ap.channel = Channel::Web;
                    ap.answer_channel = Some(AnswerChannel::Cabinet);
                    a.phones.clear();
                },
                "applicant.email",
            ),
        ];
        for (tweak, field) in cases {
            let (mut ap, mut a) = (appeal(), a.clone());
            tweak(&mut ap, &mut a);
            let errs = ap.check_applicant(&a).expect_err("should fail");
            assert!(errs.has(field, "required"), "{field}: {errs}");
        }
    }

    #[test]
    fn art5_completeness() {
        let a = applicant();
        assert_eq!(appeal().art5_missing(Some(&a)), ["applicant.address"]);
        assert_eq!(appeal().art5_missing(None), ["applicant"]);
        let mut incident = appeal();
        incident.legal_kind = LegalKind::IncidentReport;
        assert!(incident.art5_missing(None).is_empty());
        let mut blank = appeal();
        blank.questions[0].description = " ".into();
        assert_eq!(blank.art5_missing(Some(&a)), ["applicant.address", "questions"]);
    }

    #[test]
    fn channel_and_kind_helpers() {
        assert!(Channel::Web.is_electronic() && !Channel::Phone.is_electronic());
        assert!(LegalKind::Complaint.under_law() && !LegalKind::IncidentReport.under_law());
    }
}
