//! Rows as both databases return them, and their conversion into domain records.
//!
//! `FromRow` is derived generically over the row type, so one set of structs serves SQLite and
//! PostgreSQL. Enumerations arrive as strings and are parsed here: an unknown value is
//! `StoreError::Corrupt`, never a panic.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kontakt_appeals::{Address, Category, RegNo};

use crate::error::{Result, corrupt};
use crate::model::*;

pub(crate) fn parse<T>(column: &str, value: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|e| corrupt(column, value, e))
}

pub(crate) fn parse_opt<T>(column: &str, value: Option<&str>) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(column, v)).transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(column: &str, value: &str) -> Result<T> {
    serde_json::from_str(value).map_err(|e| corrupt(column, value, e))
}

/// Serialising our own in-memory values cannot fail (no maps with non-string keys, no
/// non-finite floats reach here); the fallback keeps the store panic-free regardless.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    executor_id: Option<i64>,
    active: bool,
    must_change_password: bool,
    created_at: DateTime<Utc>,
    password_hash: String,
}

impl UserRow {
    pub(crate) fn into_credentials(self) -> Result<UserCredentials> {
        let user = User {
            id: self.id,
            role: parse("users.role", &self.role)?,
            username: self.username,
            display_name: self.display_name,
            executor_id: self.executor_id,
            active: self.active,
            must_change_password: self.must_change_password,
            created_at: self.created_at,
        };
        Ok(UserCredentials { user, password_hash: self.password_hash })
    }

    pub(crate) fn into_user(self) -> Result<User> {
        Ok(self.into_credentials()?.user)
    }
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.username, u.display_name, u.role, u.executor_id, \
     u.active, u.must_change_password, u.created_at, u.password_hash";

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    user_id: Option<i64>,
    action: String,
    subject_kind: String,
    subject_id: String,
    detail: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        AuditRecord {
            id: r.id,
            user_id: r.user_id,
            action: r.action,
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            detail: r.detail,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CategoryRow {
    code: String,
    parent_code: Option<String>,
    name_uk: String,
    name_en: Option<String>,
    is_emergency: bool,
    severity: String,
    sla_hours: Option<i64>,
    attention_pct: i64,
    legal_track: String,
    attribute_schema: String,
    is_leaf: bool,
    active: bool,
}

impl CategoryRow {
    pub(crate) fn into_category(self) -> Result<Category> {
        Ok(Category {
            severity: parse("categories.severity", &self.severity)?,
            legal_track: parse("categories.legal_track", &self.legal_track)?,
            attribute_schema: json("categories.attribute_schema", &self.attribute_schema)?,
            sla_hours: self
                .sla_hours
                .map(|h| {
                    u32::try_from(h).map_err(|e| corrupt("categories.sla_hours", &h.to_string(), e))
                })
                .transpose()?,
            attention_pct: u8::try_from(self.attention_pct).map_err(|e| {
                corrupt("categories.attention_pct", &self.attention_pct.to_string(), e)
            })?,
            code: self.code,
            parent_code: self.parent_code,
            name_uk: self.name_uk,
            name_en: self.name_en,
            is_emergency: self.is_emergency,
            is_leaf: self.is_leaf,
            active: self.active,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExecutorRow {
    id: i64,
    code: String,
    name_uk: String,
    name_en: Option<String>,
    phone: Option<String>,
    active: bool,
}

impl From<ExecutorRow> for Executor {
    fn from(r: ExecutorRow) -> Self {
        Executor {
            id: r.id,
            code: r.code,
            name_uk: r.name_uk,
            name_en: r.name_en,
            phone: r.phone,
            active: r.active,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResponsibilityRow {
    id: i64,
    category_prefix: String,
    district: Option<String>,
    building_key: Option<String>,
    executor_id: i64,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
}

impl From<ResponsibilityRow> for ResponsibilityLine {
    fn from(r: ResponsibilityRow) -> Self {
        ResponsibilityLine {
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

/// The address columns shared by applicants and questions.
#[derive(sqlx::FromRow)]
pub(crate) struct AddressColumns {
    city: Option<String>,
    street: Option<String>,
    building: Option<String>,
    entrance: Option<String>,
    flat: Option<String>,
    floor: Option<i64>,
    district: Option<String>,
}

impl AddressColumns {
    /// An address is stored when street and building are; partial rows mean "no address".
    fn into_address(self, lat: Option<f64>, lon: Option<f64>) -> Option<Address> {
        let (street, building) = (self.street?, self.building?);
        Some(Address {
            city: self.city,
            street,
            building,
            entrance: self.entrance,
            flat: self.flat,
            floor: self.floor.and_then(|f| i32::try_from(f).ok()),
            district: self.district,
            lat,
            lon,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApplicantRow {
    id: i64,
    last_name: Option<String>,
    first_name: Option<String>,
    patronymic: Option<String>,
    email: Option<String>,
    kind: String,
    privileges: String,
    confidential: bool,
    assurance: String,
    #[sqlx(flatten)]
    address: AddressColumns,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ApplicantRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn into_applicant(self, phones: Vec<String>) -> Result<Applicant> {
        Ok(Applicant {
            id: self.id,
            kind: parse("applicants.kind", &self.kind)?,
            privileges: json("applicants.privileges", &self.privileges)?,
            assurance: parse("applicants.assurance", &self.assurance)?,
            last_name: self.last_name,
            first_name: self.first_name,
            patronymic: self.patronymic,
            email: self.email,
            confidential: self.confidential,
            address: self.address.into_address(None, None),
            phones,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) const APPLICANT_COLUMNS: &str = "a.id, a.last_name, a.first_name, a.patronymic, \
     a.email, a.kind, a.privileges, a.confidential, a.assurance, a.city, a.street, a.building, \
     a.entrance, a.flat, a.floor, a.district, a.created_at, a.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AppealRow {
    id: i64,
    reg_year: i64,
    /// Set in the registering transaction; never NULL once it has committed.
    reg_seq: Option<i64>,
    applicant_id: Option<i64>,
    channel: String,
    legal_kind: String,
    answer_channel: Option<String>,
    collective: bool,
    call_id: Option<String>,
    operator_id: Option<i64>,
    received_at: DateTime<Utc>,
    registered_at: DateTime<Utc>,
    legal_due_at: Option<DateTime<Utc>>,
    extended_due_at: Option<DateTime<Utc>>,
    extension_notice_sent_at: Option<DateTime<Utc>>,
    repeat_of: Option<i64>,
}

impl AppealRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn into_appeal(self, questions: Vec<Question>) -> Result<Appeal> {
        let reg_no = RegNo {
            year: i32::try_from(self.reg_year)
                .map_err(|e| corrupt("appeals.reg_year", &self.reg_year.to_string(), e))?,
            seq: self.reg_seq.and_then(|s| u32::try_from(s).ok()).ok_or_else(|| {
                corrupt("appeals.reg_seq", &format!("{:?}", self.reg_seq), "not a number")
            })?,
        };
        Ok(Appeal {
            id: self.id,
            reg_no,
            applicant_id: self.applicant_id,
            channel: parse("appeals.channel", &self.channel)?,
            legal_kind: parse("appeals.legal_kind", &self.legal_kind)?,
            answer_channel: parse_opt("appeals.answer_channel", self.answer_channel.as_deref())?,
            collective: self.collective,
            call_id: self.call_id,
            operator_id: self.operator_id,
            received_at: self.received_at,
            registered_at: self.registered_at,
            legal_due_at: self.legal_due_at,
            extended_due_at: self.extended_due_at,
            extension_notice_sent_at: self.extension_notice_sent_at,
            repeat_of: self.repeat_of,
            questions,
        })
    }
}

pub(crate) const APPEAL_COLUMNS: &str = "p.id, p.reg_year, p.reg_seq, p.applicant_id, p.channel, \
     p.legal_kind, p.answer_channel, p.collective, p.call_id, p.operator_id, p.received_at, \
     p.registered_at, p.legal_due_at, p.extended_due_at, p.extension_notice_sent_at, p.repeat_of";

#[derive(sqlx::FromRow)]
pub(crate) struct QuestionRow {
    id: i64,
    appeal_id: i64,
    position: i64,
    category_code: String,
    description: String,
    attributes: String,
    #[sqlx(flatten)]
    address: AddressColumns,
    building_key: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    object_ref: Option<String>,
    is_emergency: bool,
    discovered_at: Option<DateTime<Utc>>,
    nature: Option<String>,
    severity: String,
    sla_due_at: Option<DateTime<Utc>>,
    attention_at: Option<DateTime<Utc>>,
    repeat_of: Option<i64>,
    created_at: DateTime<Utc>,
}

impl QuestionRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn appeal_id(&self) -> i64 {
        self.appeal_id
    }

    pub(crate) fn into_question(self, assignments: Vec<Assignment>) -> Result<Question> {
        let emergency = match (self.is_emergency, self.discovered_at, self.nature) {
            (true, Some(discovered_at), Some(nature)) => Some(Emergency { discovered_at, nature }),
            (true, _, _) => {
                return Err(corrupt(
                    "questions.is_emergency",
                    "true",
                    "an emergency without discovered_at or nature",
                ));
            }
            (false, _, _) => None,
        };
        Ok(Question {
            id: self.id,
            appeal_id: self.appeal_id,
            position: self.position,
            attributes: json("questions.attributes", &self.attributes)?,
            severity: parse("questions.severity", &self.severity)?,
            category_code: self.category_code,
            description: self.description,
            address: self.address.into_address(self.lat, self.lon),
            building_key: self.building_key,
            object_ref: self.object_ref,
            emergency,
            sla_due_at: self.sla_due_at,
            attention_at: self.attention_at,
            repeat_of: self.repeat_of,
            created_at: self.created_at,
            assignments,
        })
    }
}

pub(crate) const QUESTION_COLUMNS: &str = "q.id, q.appeal_id, q.position, q.category_code, \
     q.description, q.attributes, q.city, q.street, q.building, q.entrance, q.flat, q.floor, \
     q.district, q.building_key, q.lat, q.lon, q.object_ref, q.is_emergency, q.discovered_at, \
     q.nature, q.severity, q.sla_due_at, q.attention_at, q.repeat_of, q.created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AssignmentRow {
    id: i64,
    question_id: i64,
    executor_id: i64,
    state: String,
    result: Option<String>,
    issued_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    rework_count: i64,
    version: i64,
}

impl AssignmentRow {
    pub(crate) fn into_assignment(self) -> Result<Assignment> {
        Ok(Assignment {
            id: self.id,
            question_id: self.question_id,
            executor_id: self.executor_id,
            state: parse("assignments.state", &self.state)?,
            result: parse_opt("assignments.result", self.result.as_deref())?,
            issued_at: self.issued_at,
            accepted_at: self.accepted_at,
            due_at: self.due_at,
            closed_at: self.closed_at,
            rework_count: self.rework_count,
            version: self.version,
        })
    }
}

pub(crate) const ASSIGNMENT_COLUMNS: &str = "s.id, s.question_id, s.executor_id, s.state, \
     s.result, s.issued_at, s.accepted_at, s.due_at, s.closed_at, s.rework_count, s.version";

#[derive(sqlx::FromRow)]
pub(crate) struct TimelineRow {
    id: i64,
    appeal_id: i64,
    question_id: Option<i64>,
    assignment_id: Option<i64>,
    actor_user_id: Option<i64>,
    actor_kind: String,
    kind: String,
    from_state: Option<String>,
    to_state: Option<String>,
    result: Option<String>,
    public_text: Option<String>,
    private_text: Option<String>,
    created_at: DateTime<Utc>,
}

impl TimelineRow {
    pub(crate) fn into_entry(self) -> Result<TimelineEntry> {
        Ok(TimelineEntry {
            id: self.id,
            appeal_id: self.appeal_id,
            question_id: self.question_id,
            assignment_id: self.assignment_id,
            actor_user_id: self.actor_user_id,
            actor_kind: parse("timeline.actor_kind", &self.actor_kind)?,
            kind: self.kind,
            from_state: self.from_state,
            to_state: self.to_state,
            result: self.result,
            public_text: self.public_text,
            private_text: self.private_text,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PriorRow {
    appeal_id: i64,
    question_id: i64,
    applicant_id: Option<i64>,
    category_code: String,
    building_key: Option<String>,
    state: Option<String>,
    result: Option<String>,
    closed_at: Option<DateTime<Utc>>,
}

impl PriorRow {
    pub(crate) fn into_prior(self) -> Result<PriorQuestion> {
        Ok(PriorQuestion {
            appeal_id: self.appeal_id,
            question_id: self.question_id,
            applicant_id: self.applicant_id,
            category_code: self.category_code,
            building_key: self.building_key,
            state: parse_opt("assignments.state", self.state.as_deref())?,
            result: parse_opt("assignments.result", self.result.as_deref())?,
            closed_at: self.closed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutageRow {
    id: i64,
    kind: String,
    class: String,
    nature: String,
    executor_id: Option<i64>,
    started_at: DateTime<Utc>,
    planned_end_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    public_message: Option<String>,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
}

pub(crate) const OUTAGE_COLUMNS: &str = "o.id, o.kind, o.class, o.nature, o.executor_id, \
     o.started_at, o.planned_end_at, o.ended_at, o.public_message, o.created_by, o.created_at";

impl OutageRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn into_outage(self, area: Vec<kontakt_appeals::OutagePlace>) -> Result<Outage> {
        Ok(Outage {
            id: self.id,
            kind: parse("outages.kind", &self.kind)?,
            class: parse("outages.class", &self.class)?,
            nature: self.nature,
            area,
            executor_id: self.executor_id,
            started_at: self.started_at,
            planned_end_at: self.planned_end_at,
            ended_at: self.ended_at,
            public_message: self.public_message,
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutagePlaceRow {
    pub(crate) outage_id: i64,
    street: String,
    building: Option<String>,
}

impl OutagePlaceRow {
    pub(crate) fn into_place(self) -> kontakt_appeals::OutagePlace {
        kontakt_appeals::OutagePlace { street: self.street, building: self.building }
    }
}
