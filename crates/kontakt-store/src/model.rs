//! The records the store reads and writes.
//!
//! These are domain-shaped (enumerations are `kontakt-appeals` types, never strings) and carry
//! only what a caller needs; how they map to rows is each backend's business.

use chrono::{DateTime, Utc};
use kontakt_appeals::{
    ActorKind, Address, AnswerChannel, ApplicantKind, AssignmentState, AssuranceLevel, Channel,
    LegalKind, OutageClass, OutageDraft, OutageKind, OutagePlace, Privilege, RegNo, Resolution,
    Severity,
};
use serde::Serialize;

/// Every row is keyed by a 64-bit integer: SQLite's rowid, PostgreSQL's identity column.
pub type Id = i64;

/// What a person may do in Kontakt; checked by the web layer, stored as its string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Operator,
    Controller,
    Executor,
    Citizen,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Supervisor,
        Role::Operator,
        Role::Controller,
        Role::Executor,
        Role::Citizen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
            Role::Controller => "controller",
            Role::Executor => "executor",
            Role::Citizen => "citizen",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown role {s:?}; expected one of {}",
                Role::ALL.map(Role::as_str).join(", ")
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Set for executor accounts: the organisation whose assignments they see.
    pub executor_id: Option<Id>,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub executor_id: Option<Id>,
    pub must_change_password: bool,
}

/// A user together with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAudit {
    pub user_id: Option<Id>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: Id,
    pub user_id: Option<Id>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Executor {
    pub id: Id,
    pub code: String,
    pub name_uk: String,
    pub name_en: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NewExecutor {
    pub code: String,
    pub name_uk: String,
    pub name_en: Option<String>,
    pub phone: Option<String>,
}

/// One line of the responsibility map is the domain's `ResponsibilityLine`: the store keeps
/// it as it is, and `kontakt_appeals::route` reads it.
pub use kontakt_appeals::ResponsibilityLine;

#[derive(Debug, Clone)]
pub struct NewResponsibility {
    pub category_prefix: String,
    pub district: Option<String>,
    pub building_key: Option<String>,
    pub executor_id: Id,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applicant {
    pub id: Id,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub patronymic: Option<String>,
    pub email: Option<String>,
    pub kind: ApplicantKind,
    pub privileges: Vec<Privilege>,
    pub confidential: bool,
    pub assurance: AssuranceLevel,
    pub address: Option<Address>,
    /// E.164 numbers.
    pub phones: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An applicant already validated by `kontakt-appeals`; phones are E.164.
#[derive(Debug, Clone)]
pub struct NewApplicant {
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub patronymic: Option<String>,
    pub email: Option<String>,
    pub kind: ApplicantKind,
    pub privileges: Vec<Privilege>,
    pub confidential: bool,
    pub assurance: AssuranceLevel,
    pub address: Option<Address>,
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicantQuery {
    /// Exact E.164 number.
    pub phone: Option<String>,
    /// Case-insensitive substring of "last first patronymic".
    pub name: Option<String>,
    /// Prefix of the normalised building key ("street|building").
    pub address: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Emergency {
    pub discovered_at: DateTime<Utc>,
    pub nature: String,
}

#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub executor_id: Id,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub category_code: String,
    pub description: String,
    /// A JSON object, already validated against the category's schema.
    pub attributes: serde_json::Value,
    pub address: Option<Address>,
    pub building_key: Option<String>,
    pub object_ref: Option<String>,
    pub emergency: Option<Emergency>,
    pub severity: Severity,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub attention_at: Option<DateTime<Utc>>,
    pub repeat_of: Option<Id>,
    /// The executor the responsibility map chose, if any.
    pub assignment: Option<NewAssignment>,
}

/// An appeal ready to be written: validated, deadlines computed, questions routed.
/// The store adds the registration number, the ids and the timeline entries.
#[derive(Debug, Clone)]
pub struct NewAppeal {
    /// The year the registration number counts in (the Kyiv calendar year of registration).
    pub reg_year: i32,
    pub applicant_id: Option<Id>,
    pub channel: Channel,
    pub legal_kind: LegalKind,
    pub answer_channel: Option<AnswerChannel>,
    pub collective: bool,
    pub call_id: Option<String>,
    pub operator_id: Option<Id>,
    pub received_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub legal_due_at: Option<DateTime<Utc>>,
    pub repeat_of: Option<Id>,
    pub questions: Vec<NewQuestion>,
    pub actor: Actor,
}

/// Who did something: a person (user id) acting in a role, or the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Id>,
    pub kind: ActorKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Appeal {
    pub id: Id,
    pub reg_no: RegNo,
    pub applicant_id: Option<Id>,
    pub channel: Channel,
    pub legal_kind: LegalKind,
    pub answer_channel: Option<AnswerChannel>,
    pub collective: bool,
    pub call_id: Option<String>,
    pub operator_id: Option<Id>,
    pub received_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub legal_due_at: Option<DateTime<Utc>>,
    pub extended_due_at: Option<DateTime<Utc>>,
    pub extension_notice_sent_at: Option<DateTime<Utc>>,
    pub repeat_of: Option<Id>,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub id: Id,
    pub appeal_id: Id,
    /// 1-based position inside the appeal: the question's number is `reg_no/position`.
    pub position: i64,
    pub category_code: String,
    pub description: String,
    pub attributes: serde_json::Value,
    pub address: Option<Address>,
    pub building_key: Option<String>,
    pub object_ref: Option<String>,
    pub emergency: Option<Emergency>,
    pub severity: Severity,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub attention_at: Option<DateTime<Utc>>,
    pub repeat_of: Option<Id>,
    pub created_at: DateTime<Utc>,
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub id: Id,
    pub question_id: Id,
    pub executor_id: Id,
    pub state: AssignmentState,
    pub result: Option<Resolution>,
    pub issued_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rework_count: i64,
    /// Bumped on every change; a change names the version it was computed from.
    pub version: i64,
}

/// A state change computed by `kontakt_appeals::transition`, applied only if the assignment is
/// still at `expected_version` (otherwise someone else changed it first: a conflict).
#[derive(Debug, Clone)]
pub struct AssignmentChange {
    pub assignment_id: Id,
    pub expected_version: i64,
    pub to: AssignmentState,
    pub result: Option<Resolution>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub rework_increment: bool,
    pub actor: Actor,
    pub public_text: Option<String>,
    pub private_text: Option<String>,
    pub at: DateTime<Utc>,
}

/// One line of an appeal's append-only history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub id: Id,
    pub appeal_id: Id,
    pub question_id: Option<Id>,
    pub assignment_id: Option<Id>,
    pub actor_user_id: Option<Id>,
    pub actor_kind: ActorKind,
    /// What happened: "registered", "assigned", "transition", "deadline_extended", "note".
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub result: Option<String>,
    pub public_text: Option<String>,
    pub private_text: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AppealFilter {
    pub applicant_id: Option<Id>,
    pub channel: Option<Channel>,
    pub category_prefix: Option<String>,
    pub executor_id: Option<Id>,
    pub state: Option<AssignmentState>,
    pub registered_from: Option<DateTime<Utc>>,
    pub registered_to: Option<DateTime<Utc>>,
    /// Substring of any question's description, ignoring case (Cyrillic included).
    pub text: Option<String>,
    /// Appeals with a question at this building (`Address::building_key`).
    pub building_key: Option<String>,
    /// Keyset pagination: only appeals with an id below this (newest first).
    pub before_id: Option<Id>,
    pub limit: i64,
}

/// An earlier question, as the repeat and duplicate rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorQuestion {
    pub appeal_id: Id,
    pub question_id: Id,
    pub applicant_id: Option<Id>,
    pub category_code: String,
    pub building_key: Option<String>,
    /// The main (first) assignment's state and result, if the question was routed.
    pub state: Option<AssignmentState>,
    pub result: Option<Resolution>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// An outage ready to be written: a draft `kontakt_appeals` validated and normalised, and who
/// registered it when.
#[derive(Debug, Clone)]
pub struct NewOutage {
    pub draft: OutageDraft,
    pub created_by: Option<Id>,
    pub created_at: DateTime<Utc>,
}

/// An accident, planned work or restriction, and the places it leaves without the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub id: Id,
    pub kind: OutageKind,
    pub class: OutageClass,
    pub nature: String,
    /// In the order they were given.
    pub area: Vec<OutagePlace>,
    pub executor_id: Option<Id>,
    pub started_at: DateTime<Utc>,
    pub planned_end_at: Option<DateTime<Utc>>,
    /// Set once the service is back; the outage is active until then.
    pub ended_at: Option<DateTime<Utc>>,
    pub public_message: Option<String>,
    pub created_by: Option<Id>,
    pub created_at: DateTime<Utc>,
}

impl Outage {
    /// In force at `at`: started, and not ended (an overrun past `planned_end_at` is still on).
    pub fn active_at(&self, at: DateTime<Utc>) -> bool {
        self.started_at <= at && self.ended_at.is_none()
    }
}

/// Which outages to list, newest start first.
#[derive(Debug, Clone, Default)]
pub struct OutageFilter {
    /// Only those in force at this time (`Outage::active_at`).
    pub active_at: Option<DateTime<Utc>>,
    /// Only those covering a place on this street (`kontakt_appeals::address::street_key`).
    pub street_key: Option<String>,
    /// With `street_key`: only those covering this building (`Address::building_key`), by
    /// naming it or its whole street.
    pub building_key: Option<String>,
    /// Only this executor organisation's.
    pub executor_id: Option<Id>,
    pub limit: i64,
}
