//! The API's request and response bodies: serialisable counterparts of domain records, with
//! their OpenAPI schemas. Domain enumerations travel as their snake_case strings.

use chrono::{DateTime, Utc};
use kontakt_appeals::{
    Action, ActorKind, Address, AnswerChannel, ApplicantKind, AssignmentState, AssuranceLevel,
    Channel, LegalKind, Privilege, Resolution, Severity,
};
use kontakt_store as store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserDto,
    /// Send this value as the X-CSRF-Token header with every cookie-authenticated write.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// admin, supervisor, operator, controller, executor or citizen.
    pub role: String,
    pub executor_id: Option<i64>,
    pub active: bool,
    pub must_change_password: bool,
}

impl From<store::User> for UserDto {
    fn from(u: store::User) -> Self {
        UserDto {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str().to_string(),
            executor_id: u.executor_id,
            active: u.active,
            must_change_password: u.must_change_password,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password: String,
    pub executor_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenResponse {
    pub id: i64,
    /// Shown once; send as `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    pub city: Option<String>,
    pub street: String,
    pub building: String,
    pub entrance: Option<String>,
    pub flat: Option<String>,
    pub floor: Option<i32>,
    pub district: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl From<AddressDto> for Address {
    fn from(a: AddressDto) -> Self {
        Address {
            city: a.city,
            street: a.street,
            building: a.building,
            entrance: a.entrance,
            flat: a.flat,
            floor: a.floor,
            district: a.district,
            lat: a.lat,
            lon: a.lon,
        }
    }
}

impl From<Address> for AddressDto {
    fn from(a: Address) -> Self {
        AddressDto {
            city: a.city,
            street: a.street,
            building: a.building,
            entrance: a.entrance,
            flat: a.flat,
            floor: a.floor,
            district: a.district,
            lat: a.lat,
            lon: a.lon,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplicantRequest {
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub patronymic: Option<String>,
    /// Any common Ukrainian form: 0501234567, +380 50 123 45 67, (061) 787-15-80 …
    #[serde(default)]
    pub phones: Vec<String>,
    pub email: Option<String>,
    pub address: Option<AddressDto>,
    #[schema(value_type = String)]
    #[serde(default = "individual")]
    pub kind: ApplicantKind,
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub privileges: Vec<Privilege>,
    #[serde(default)]
    pub confidential: bool,
    #[schema(value_type = String)]
    #[serde(default = "no_assurance")]
    pub assurance: AssuranceLevel,
}

fn individual() -> ApplicantKind {
    ApplicantKind::Individual
}

fn no_assurance() -> AssuranceLevel {
    AssuranceLevel::None
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicantDto {
    pub id: i64,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub patronymic: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = String)]
    pub kind: ApplicantKind,
    #[schema(value_type = Vec<String>)]
    pub privileges: Vec<Privilege>,
    pub confidential: bool,
    #[schema(value_type = String)]
    pub assurance: AssuranceLevel,
    pub address: Option<AddressDto>,
    /// E.164.
    pub phones: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<store::Applicant> for ApplicantDto {
    fn from(a: store::Applicant) -> Self {
        ApplicantDto {
            id: a.id,
            last_name: a.last_name,
            first_name: a.first_name,
            patronymic: a.patronymic,
            email: a.email,
            kind: a.kind,
            privileges: a.privileges,
            confidential: a.confidential,
            assurance: a.assurance,
            address: a.address.map(AddressDto::from),
            phones: a.phones,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantSearch {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyDto {
    pub discovered_at: DateTime<Utc>,
    pub nature: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuestionRequest {
    pub category_code: String,
    pub description: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub address: Option<AddressDto>,
    pub object_ref: Option<String>,
    pub emergency: Option<EmergencyDto>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppealRequest {
    /// An existing applicant, or `applicant` to create one, or neither for an anonymous
    /// incident report.
    pub applicant_id: Option<i64>,
    pub applicant: Option<NewApplicantRequest>,
    #[schema(value_type = String)]
    pub channel: Channel,
    #[schema(value_type = String)]
    pub legal_kind: LegalKind,
    /// When the appeal reached the center; defaults to now.
    pub received_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub answer_channel: Option<AnswerChannel>,
    #[serde(default)]
    pub collective: bool,
    pub call_id: Option<String>,
    pub questions: Vec<NewQuestionRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppealDto {
    pub id: i64,
    /// YYYY-NNNNNN.
    pub reg_no: String,
    pub applicant_id: Option<i64>,
    #[schema(value_type = String)]
    pub channel: Channel,
    #[schema(value_type = String)]
    pub legal_kind: LegalKind,
    #[schema(value_type = Option<String>)]
    pub answer_channel: Option<AnswerChannel>,
    pub collective: bool,
    pub call_id: Option<String>,
    pub operator_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    /// Law 393/96 art. 20 due time (end of the Kyiv day); null for incident reports.
    pub legal_due_at: Option<DateTime<Utc>>,
    pub extended_due_at: Option<DateTime<Utc>>,
    pub extension_notice_sent_at: Option<DateTime<Utc>>,
    pub repeat_of: Option<i64>,
    pub questions: Vec<QuestionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionDto {
    pub id: i64,
    /// reg_no/position.
    pub number: String,
    pub category_code: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub address: Option<AddressDto>,
    pub object_ref: Option<String>,
    pub is_emergency: bool,
    pub discovered_at: Option<DateTime<Utc>>,
    pub nature: Option<String>,
    #[schema(value_type = String)]
    pub severity: Severity,
    /// The category's service deadline, never later than the legal one.
    pub sla_due_at: Option<DateTime<Utc>>,
    pub attention_at: Option<DateTime<Utc>>,
    /// on_time, attention, overdue, closed_on_time or closed_late, computed now.
    pub deadline_status: Option<String>,
    pub repeat_of: Option<i64>,
    pub assignments: Vec<AssignmentDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentDto {
    pub id: i64,
    pub question_id: i64,
    pub executor_id: i64,
    #[schema(value_type = String)]
    pub state: AssignmentState,
    #[schema(value_type = Option<String>)]
    pub result: Option<Resolution>,
    pub issued_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rework_count: i64,
    pub version: i64,
}

impl From<store::Assignment> for AssignmentDto {
    fn from(a: store::Assignment) -> Self {
        AssignmentDto {
            id: a.id,
            question_id: a.question_id,
            executor_id: a.executor_id,
            state: a.state,
            result: a.result,
            issued_at: a.issued_at,
            accepted_at: a.accepted_at,
            due_at: a.due_at,
            closed_at: a.closed_at,
            rework_count: a.rework_count,
            version: a.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationResponse {
    pub appeal: AppealDto,
    /// Open questions at the same building and category that this one may duplicate.
    pub duplicate_candidates: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealListQuery {
    pub applicant_id: Option<i64>,
    pub channel: Option<String>,
    pub category: Option<String>,
    pub executor_id: Option<i64>,
    pub state: Option<String>,
    pub registered_from: Option<DateTime<Utc>>,
    pub registered_to: Option<DateTime<Utc>>,
    pub text: Option<String>,
    /// Keyset pagination: pass the last id of the previous page.
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppealPage {
    pub items: Vec<AppealDto>,
    /// Pass as before_id to get the next page; null on the last page.
    pub next_before_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssignmentRequest {
    pub executor_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// accept, report, confirm, reject, unreachable, cancel or reroute.
    #[schema(value_type = String)]
    pub action: Action,
    /// Required with report: done, explained, not_in_competence, impossible_now, returned,
    /// duplicate.
    #[schema(value_type = Option<String>)]
    pub result: Option<Resolution>,
    pub public_text: Option<String>,
    pub private_text: Option<String>,
    /// The version the caller saw; a newer one on the server gives 409 `stale`.
    pub expected_version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    pub extended_due_at: DateTime<Utc>,
    /// When the applicant was told of the extension; the law requires it.
    pub notice_sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineDto {
    pub id: i64,
    pub question_id: Option<i64>,
    pub assignment_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    #[schema(value_type = String)]
    pub actor_kind: ActorKind,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub result: Option<String>,
    pub public_text: Option<String>,
    /// Omitted for executors: notes between the center's staff.
    pub private_text: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<store::TimelineEntry> for TimelineDto {
    fn from(t: store::TimelineEntry) -> Self {
        TimelineDto {
            id: t.id,
            question_id: t.question_id,
            assignment_id: t.assignment_id,
            actor_user_id: t.actor_user_id,
            actor_kind: t.actor_kind,
            kind: t.kind,
            from_state: t.from_state,
            to_state: t.to_state,
            result: t.result,
            public_text: t.public_text,
            private_text: t.private_text,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    pub code: String,
    pub parent_code: Option<String>,
    pub name_uk: String,
    pub name_en: Option<String>,
    pub is_emergency: bool,
    #[schema(value_type = String)]
    pub severity: Severity,
    pub sla_hours: Option<u32>,
    pub attention_pct: u8,
    pub legal_track: String,
    #[schema(value_type = Vec<Object>)]
    pub attribute_schema: serde_json::Value,
    pub is_leaf: bool,
    pub active: bool,
}

impl From<kontakt_appeals::Category> for CategoryDto {
    fn from(c: kontakt_appeals::Category) -> Self {
        CategoryDto {
            attribute_schema: serde_json::to_value(&c.attribute_schema)
                .unwrap_or(serde_json::Value::Null),
            legal_track: c.legal_track.as_str().to_string(),
            code: c.code,
            parent_code: c.parent_code,
            name_uk: c.name_uk,
            name_en: c.name_en,
            is_emergency: c.is_emergency,
            severity: c.severity,
            sla_hours: c.sla_hours,
            attention_pct: c.attention_pct,
            is_leaf: c.is_leaf,
            active: c.active,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutorRequest {
    pub code: String,
    pub name_uk: String,
    pub name_en: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutorDto {
    pub id: i64,
    pub code: String,
    pub name_uk: String,
    pub name_en: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
}

impl From<store::Executor> for ExecutorDto {
    fn from(e: store::Executor) -> Self {
        ExecutorDto {
            id: e.id,
            code: e.code,
            name_uk: e.name_uk,
            name_en: e.name_en,
            phone: e.phone,
            active: e.active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsibilityRequest {
    pub category_prefix: String,
    pub district: Option<String>,
    /// Normalised "street|building" key; null for the whole district or city.
    pub building_key: Option<String>,
    pub executor_id: i64,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResponsibilityDto {
    pub id: i64,
    pub category_prefix: String,
    pub district: Option<String>,
    pub building_key: Option<String>,
    pub executor_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl From<store::ResponsibilityLine> for ResponsibilityDto {
    fn from(r: store::ResponsibilityLine) -> Self {
        ResponsibilityDto {
            id: r.id,
            category_prefix: r.category_prefix,
            district: r.district,
            building_key: r.building_key,
            executor_id: r.executor_id,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    pub id: i64,
    pub user_id: Option<i64>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<store::AuditRecord> for AuditDto {
    fn from(a: store::AuditRecord) -> Self {
        AuditDto {
            id: a.id,
            user_id: a.user_id,
            action: a.action,
            subject_kind: a.subject_kind,
            subject_id: a.subject_id,
            detail: a.detail,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// ok or unhealthy.
    pub status: String,
    /// ok or unreachable.
    pub database: String,
    /// ok, disabled (no telephony configured), engine_stopped or esl_disconnected.
    pub telephony: String,
    /// Why the status is unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---- the operator's desk ---------------------------------------------------------------------

/// The state an operator asks for (or a supervisor forces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStateRequest {
    Ready,
    Pause,
    Logout,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    pub state: AgentStateRequest,
    /// Required with pause: one of the configured pause reasons (the desk lists them); not
    /// allowed otherwise.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TransferTargetDto {
    /// What POST /desk/transfer takes.
    pub code: String,
    pub name: String,
}

/// The operator's desk: where they stand and what they may choose.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeskDto {
    pub user_id: i64,
    /// logged-out, ready, paused, delayed, offered, dialing, talking or wrap-up.
    pub state: String,
    /// The pause reason while paused.
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    /// The live call (ringing or in conversation).
    pub call: Option<String>,
    /// The ended call whose appeal link (or outcome) is awaited; the operator cannot become
    /// ready before it is linked.
    pub wrap_up_call: Option<String>,
    /// Non-appeal outcomes a call may be linked to.
    pub outcomes: Vec<String>,
    pub pause_reasons: Vec<String>,
    /// Blind-transfer targets.
    pub directory: Vec<TransferTargetDto>,
    /// The screen-pop of the live or wrap-up call (the `data` of its `screen_pop` message),
    /// so a desk opened mid-call shows it.
    #[schema(value_type = Option<Object>)]
    pub pop: Option<serde_json::Value>,
}

/// Exactly one of the three: an existing appeal, a non-appeal outcome, or a new appeal
/// registered from the call (the body of POST /api/v1/appeals; its channel must be phone, its
/// call_id is set to the call's UUID).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub appeal_id: Option<i64>,
    pub outcome: Option<String>,
    pub appeal: Option<NewAppealRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    pub call: String,
    /// Set when the call was linked to an appeal (given or registered).
    pub appeal_id: Option<i64>,
    pub outcome: Option<String>,
    /// The appeal registered from the call, when the request carried one.
    pub registered: Option<RegistrationResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub hold: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HangupRequest {
    /// The UUID of the call to end (the one the desk shows as connected).
    pub call: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// A code from the desk's directory.
    pub target: String,
}

// ---- the wall board --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentDto {
    pub user_id: i64,
    pub username: String,
    pub state: String,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    /// The live call, or the call awaiting its link.
    pub call: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveCallDto {
    pub call: String,
    pub node: String,
    /// E.164, when the network gave a usable number.
    pub caller: Option<String>,
    pub line: Option<String>,
    /// ivr, queued, callback, ringing or talking.
    pub phase: String,
    pub queue: Option<String>,
    pub priority: u8,
    /// The operator (user id) offered or talking.
    pub agent: Option<i64>,
    pub since: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

/// Everything the supervisors' wall board shows; the feed's supervisor `snapshot` has the same
/// fields.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WallboardDto {
    pub at: DateTime<Utc>,
    /// Queue and overall statistics of the router (waiting, longest wait, service level,
    /// answered, abandoned …).
    #[schema(value_type = Object)]
    pub stats: serde_json::Value,
    pub agents: Vec<AgentDto>,
    pub calls: Vec<LiveCallDto>,
    pub queue_names: Vec<String>,
}

impl From<kontakt_engine::feed::AgentView> for AgentDto {
    fn from(a: kontakt_engine::feed::AgentView) -> Self {
        AgentDto {
            user_id: a.user_id,
            username: a.username,
            state: a.state,
            reason: a.reason,
            since: a.since,
            call: a.call,
        }
    }
}

impl From<kontakt_engine::feed::LiveCallView> for LiveCallDto {
    fn from(c: kontakt_engine::feed::LiveCallView) -> Self {
        LiveCallDto {
            call: c.call,
            node: c.node,
            caller: c.caller,
            line: c.line,
            phase: c.phase,
            queue: c.queue,
            priority: c.priority,
            agent: c.agent,
            since: c.since,
            started_at: c.started_at,
        }
    }
}

impl From<kontakt_engine::feed::SupervisorSnapshot> for WallboardDto {
    fn from(s: kontakt_engine::feed::SupervisorSnapshot) -> Self {
        WallboardDto {
            at: s.at,
            stats: serde_json::to_value(&s.stats).unwrap_or(serde_json::Value::Null),
            agents: s.agents.into_iter().map(Into::into).collect(),
            calls: s.calls.into_iter().map(Into::into).collect(),
            queue_names: s.queue_names,
        }
    }
}

/// One quarter hour of the day: inbound calls that *started* in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IntradayBucketDto {
    /// The interval's first instant (UTC); it lasts `bucket_secs`.
    pub start: DateTime<Utc>,
    /// Inbound calls that reached a queue. Calls that ended in the menu, and callbacks
    /// Kontakt dialled, are not offered.
    pub offered: i64,
    /// Of the offered, those an operator answered.
    pub answered: i64,
    /// Of the offered, those whose caller hung up while waiting or ringing (short abandons
    /// included, unlike the router's abandon rate).
    pub abandoned: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgentAnsweredDto {
    pub user_id: i64,
    /// Calls (inbound and callbacks) this operator answered that day.
    pub answered: i64,
}

/// The day so far, from the call records: what the wall board's intraday chart draws, and
/// each operator's calls of the day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IntradayDto {
    /// The calendar day in Kyiv, YYYY-MM-DD.
    pub date: String,
    /// Always Europe/Kyiv: the day runs from its midnight to the next (23 or 25 hours on the
    /// days the clocks change).
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_secs: u32,
    /// Every interval of the day in order, empty and future ones included.
    pub buckets: Vec<IntradayBucketDto>,
    /// Sums of the buckets.
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    /// Operators who answered at least one call that day, by user id.
    pub agents: Vec<AgentAnsweredDto>,
    /// When this was read.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveCallRequest {
    /// A configured queue.
    pub queue: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    /// Priority class 0–255; higher goes first (the default menu's emergency class is 9).
    pub priority: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EavesdropModeDto {
    /// Hear both sides; nobody hears the supervisor.
    Listen,
    /// Speak to the operator only.
    Whisper,
    /// Speak to both.
    Barge,
}

impl From<EavesdropModeDto> for kontakt_engine::EavesdropMode {
    fn from(m: EavesdropModeDto) -> Self {
        match m {
            EavesdropModeDto::Listen => kontakt_engine::EavesdropMode::Listen,
            EavesdropModeDto::Whisper => kontakt_engine::EavesdropMode::Whisper,
            EavesdropModeDto::Barge => kontakt_engine::EavesdropMode::Barge,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EavesdropRequest {
    pub mode: EavesdropModeDto,
}

// ---- suggestions while an operator types an appeal --------------------------------------------

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionsQuery {
    /// The category chosen so far; without one there is nothing to suggest yet.
    pub category_code: Option<String>,
    /// With `building`: the address typed so far (any common spelling; compared by building
    /// key).
    pub street: Option<String>,
    pub building: Option<String>,
    /// The applicant recognised or chosen, for repeats (Art. 8 of Law 393/96).
    pub applicant_id: Option<i64>,
}

/// An earlier question the new one may repeat or duplicate.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionDto {
    pub appeal_id: i64,
    pub question_id: i64,
    pub reg_no: String,
    /// reg_no/position.
    pub number: String,
    pub category_code: String,
    /// As the citizen gave it: show it as text.
    pub description: String,
    /// The question's address on one line.
    pub address: Option<String>,
    /// The main assignment's state; null when not routed yet.
    pub state: Option<String>,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionsDto {
    /// The closed question (same applicant, category and building, answered on the merits)
    /// that makes the new one a repeat, if any.
    pub repeat: Option<SuggestionDto>,
    /// Open questions of this category at this building, newest first (at most 5): link the
    /// call to one of them instead of registering the same problem again.
    pub duplicates: Vec<SuggestionDto>,
}

// ---- outages: accidents, planned works and restrictions ---------------------------------------

/// One place an outage covers: a whole street (`building` absent) or one building of it.
/// Spellings are matched as applicants' and questions' addresses are ("вул. Соборна" and
/// "Соборна вулиця" agree).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutagePlaceDto {
    pub street: String,
    /// Absent or null: every building of the street.
    #[serde(default)]
    pub building: Option<String>,
}

impl From<OutagePlaceDto> for kontakt_appeals::OutagePlace {
    fn from(p: OutagePlaceDto) -> Self {
        kontakt_appeals::OutagePlace { street: p.street, building: p.building }
    }
}

impl From<kontakt_appeals::OutagePlace> for OutagePlaceDto {
    fn from(p: kontakt_appeals::OutagePlace) -> Self {
        OutagePlaceDto { street: p.street, building: p.building }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageRequest {
    /// accident, planned_work or restriction.
    #[schema(value_type = String)]
    pub kind: kontakt_appeals::OutageKind,
    /// The service that is off: water, hot_water, heating, electricity, gas, sewage, lift or
    /// other (the category tree's groups).
    #[schema(value_type = String)]
    pub class: kontakt_appeals::OutageClass,
    /// What happened or what is being done (1–1000 characters).
    pub nature: String,
    /// The streets and buildings without the service (1–500 places).
    pub area: Vec<OutagePlaceDto>,
    /// The organisation dealing with it. An executor's own organisation is the default for
    /// an executor, and the only one they may name.
    pub executor_id: Option<i64>,
    /// When the service went (or goes) off; defaults to now. Only planned works and
    /// restrictions may start in the future.
    pub started_at: Option<DateTime<Utc>>,
    /// When it is expected back; after `started_at`.
    pub planned_end_at: Option<DateTime<Utc>>,
    /// What operators may tell callers, word for word (at most 1000 characters).
    pub public_message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutageDto {
    pub id: i64,
    #[schema(value_type = String)]
    pub kind: kontakt_appeals::OutageKind,
    #[schema(value_type = String)]
    pub class: kontakt_appeals::OutageClass,
    pub nature: String,
    pub area: Vec<OutagePlaceDto>,
    pub executor_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub planned_end_at: Option<DateTime<Utc>>,
    /// Null while the outage lasts.
    pub ended_at: Option<DateTime<Utc>>,
    /// In force now: started and not ended (an overrun past `planned_end_at` still is).
    pub active: bool,
    pub public_message: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl OutageDto {
    pub fn new(o: store::Outage, now: DateTime<Utc>) -> Self {
        OutageDto {
            active: o.active_at(now),
            id: o.id,
            kind: o.kind,
            class: o.class,
            nature: o.nature,
            area: o.area.into_iter().map(Into::into).collect(),
            executor_id: o.executor_id,
            started_at: o.started_at,
            planned_end_at: o.planned_end_at,
            ended_at: o.ended_at,
            public_message: o.public_message,
            created_by: o.created_by,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutageListQuery {
    /// `true`: only outages in force now.
    pub active: Option<bool>,
    /// Only outages covering a place on this street (any common spelling).
    pub street: Option<String>,
    /// With `street`: only outages covering this building, by naming it or its whole street.
    pub building: Option<String>,
    /// Only this organisation's outages.
    pub executor_id: Option<i64>,
    /// 1–500; 100 by default.
    pub limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndOutageRequest {
    /// When the service came back; defaults to now. Not before the outage started, not in
    /// the future.
    pub ended_at: Option<DateTime<Utc>>,
}
