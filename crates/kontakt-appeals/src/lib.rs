//! Sans-IO appeal lifecycle: applicants, appeals, questions, states, results and legal deadlines.
//!
//! This crate is the appeals domain of Kontakt and nothing else: no IO, no database, no clock.
//! Every time is passed in as `DateTime<Utc>`; every rule is a pure function or a table. The
//! storage and REST layers call it to validate input, to decide state transitions and to compute
//! due times, and store what it returns.
//!
//! Map:
//! - [`phone`]: E.164 normalisation of Ukrainian numbers in every local form.
//! - [`applicant`] and [`address`]: the person, their privileges, confidentiality, address and
//!   the building key used for matching.
//! - [`appeal`] and [`question`]: the legal appeal (registration number, channel, legal kind)
//!   and the problems it raises.
//! - [`category`] and [`seed`]: the category tree with SLAs and attribute schemas, sample
//!   executors and districts.
//! - [`lifecycle`]: assignment states, results and the transition table.
//! - [`deadline`]: Law 393/96 terms (Art. 5, 7, 20) in Kyiv local time, SLA, attention, rework.
//! - [`matching`]: repeat (Art. 8) and duplicate detection.
//! - [`outage`]: accidents, planned works and restrictions, and the streets and buildings
//!   they leave without a service.
//! - [`routing`]: the responsibility map and the choice of executor for a new question.
//! - [`error`]: field-level validation errors with stable codes.

pub mod address;
pub mod appeal;
pub mod applicant;
pub mod category;
pub mod deadline;
pub mod error;
pub mod lifecycle;
pub mod matching;
pub mod outage;
pub mod phone;
pub mod question;
pub mod routing;
pub mod seed;

pub use address::Address;
pub use appeal::{AnswerChannel, Channel, LegalKind, MAX_QUESTIONS, NewAppeal, RegNo, RegNoError};
pub use applicant::{ApplicantKind, AssuranceLevel, NewApplicant, Privilege, ValidApplicant};
pub use category::{
    AttributeDef, AttributeKind, Category, DEFAULT_ATTENTION_PCT, LegalTrack, Severity, code_under,
    example_attributes, validate_attributes, validate_tree,
};
pub use deadline::{
    DeadlineError, DeadlineStatus, appeal_legal_due, attention_at, end_of_local_day, extend,
    forward_due, legal_due, local_date, max_extended_due, return_malformed_due, rework_due,
    sla_due, status,
};
pub use error::{ERROR_CODES, FieldError, UnknownValue, ValidationErrors};
pub use lifecycle::{
    Action, ActorKind, AssignmentState, PublicStatus, ReopenError, Resolution, TRANSITIONS,
    TransitionError, TransitionRule, available_actions, public_status, public_status_with_event,
    reopen, transition,
};
pub use matching::{PriorQuestion, duplicate_candidates, find_repeat};
pub use outage::{OutageClass, OutageDraft, OutageKind, OutagePlace, validate_outage_end};
pub use phone::{Phone, PhoneError, is_withheld, normalize_phone, phone_from_caller_id};
pub use question::{Emergency, NewQuestion, validate_question};
pub use routing::{ResponsibilityLine, route};
pub use seed::{
    ExecutorSeed, default_categories, default_districts, normalize_district, pick_executor,
    sample_executors,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The database stores `as_str()`; JSON uses serde. They must agree for every variant of
    /// every enum, and `FromStr` must invert `as_str`.
    fn check_enum<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned
            + FromStr<Err = UnknownValue>,
        T: EnumStr,
    {
        for v in all {
            let s = v.name();
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(s.to_owned()),
                "{v:?}"
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::Value::String(s.to_owned())).unwrap(),
                *v
            );
            assert_eq!(T::from_str(s).unwrap(), *v);
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s}"
            );
        }
        let err = T::from_str("No Such Value").unwrap_err();
        assert_eq!(err.value, "No Such Value");
        assert!(err.to_string().contains(all[0].name()), "{err}");
    }

    trait EnumStr {
        fn name(&self) -> &'static str;
    }
    macro_rules! enum_str {
        ($($t:ty),*) => {$(impl EnumStr for $t { fn name(&self) -> &'static str { self.as_str() } })*};
    }
    enum_str!(
        ApplicantKind,
        Privilege,
        AssuranceLevel,
        Channel,
        LegalKind,
        AnswerChannel,
        Severity,
        LegalTrack,
        AssignmentState,
        Resolution,
        Action,
        ActorKind,
        PublicStatus,
        DeadlineStatus,
        OutageKind,
        OutageClass
    );

    #[test]
    fn every_enum_round_trips() {
        check_enum(ApplicantKind::ALL);
        check_enum(Privilege::ALL);
        check_enum(AssuranceLevel::ALL);
        check_enum(Channel::ALL);
        check_enum(LegalKind::ALL);
        check_enum(AnswerChannel::ALL);
        check_enum(Severity::ALL);
        check_enum(LegalTrack::ALL);
        check_enum(AssignmentState::ALL);
        check_enum(Resolution::ALL);
        check_enum(Action::ALL);
        check_enum(ActorKind::ALL);
        check_enum(PublicStatus::ALL);
        check_enum(DeadlineStatus::ALL);
        check_enum(OutageKind::ALL);
        check_enum(OutageClass::ALL);
    }

    #[test]
    fn unknown_value_message() {
        let err = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown channel \"fax\"; allowed: phone, web, email, post, bot, open311, forwarded, personal_reception"
        );
    }
}
