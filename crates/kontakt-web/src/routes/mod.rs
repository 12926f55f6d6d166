//! The router: every endpoint under `/api/v1`, grouped by resource, one file each.

mod appeals;
mod applicants;
pub(crate) mod desk;
mod feed;
mod outages;
mod reference;
mod session;
mod suggestions;
mod system;
pub(crate) mod users;
mod wallboard;

use axum::Router;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use kontakt_appeals as domain;
use kontakt_store as store;

use crate::WebState;
use crate::dto::{AppealDto, QuestionDto};
use crate::error::ApiError;

pub(crate) use appeals::*;
pub(crate) use applicants::*;
pub(crate) use desk::*;
pub(crate) use feed::*;
pub(crate) use outages::*;
pub(crate) use reference::*;
pub(crate) use session::*;
pub(crate) use suggestions::*;
pub(crate) use system::*;
pub(crate) use users::*;
pub(crate) use wallboard::*;

pub(crate) fn router() -> Router<WebState> {
    Router::new()
        // Outside /api/v1 and unauthenticated: for the monitoring host (see system.rs).
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(crate::openapi::serve))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/tokens", post(create_token))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/applicants", get(search_applicants).post(create_applicant))
        .route("/api/v1/applicants/{id}", get(get_applicant))
        .route("/api/v1/appeals", get(list_appeals).post(register_appeal))
        .route("/api/v1/appeals/{id}", get(get_appeal))
        .route("/api/v1/appeals/by-number/{reg_no}", get(get_appeal_by_number))
        .route("/api/v1/appeals/suggestions", get(appeal_suggestions))
        .route("/api/v1/appeals/{id}/timeline", get(appeal_timeline))
        .route("/api/v1/appeals/{id}/extend", post(extend_deadline))
        .route("/api/v1/questions/{id}/assignments", post(add_assignment))
        .route("/api/v1/assignments/{id}", get(get_assignment))
        .route("/api/v1/assignments/{id}/transition", post(transition_assignment))
        .route("/api/v1/categories", get(list_categories))
        .route("/api/v1/categories/{code}", put(put_category))
        .route("/api/v1/executors", get(list_executors).post(create_executor))
        .route("/api/v1/responsibilities", get(list_responsibilities).post(create_responsibility))
        .route("/api/v1/outages", get(list_outages).post(create_outage))
        .route("/api/v1/outages/{id}/end", post(end_outage))
        .route("/api/v1/desk", get(get_desk))
        .route("/api/v1/desk/state", post(set_desk_state))
        .route("/api/v1/desk/calls/{uuid}/link", post(link_call))
        .route("/api/v1/desk/hold", post(hold))
        .route("/api/v1/desk/hangup", post(hangup))
        .route("/api/v1/desk/transfer", post(transfer))
        .route("/api/v1/wallboard", get(get_wallboard))
        .route("/api/v1/wallboard/intraday", get(get_intraday))
        .route("/api/v1/wallboard/agents/{user_id}/state", post(force_agent_state))
        .route("/api/v1/wallboard/calls/{uuid}/queue", post(move_call))
        .route("/api/v1/wallboard/calls/{uuid}/priority", post(set_priority))
        .route("/api/v1/wallboard/calls/{uuid}/eavesdrop", post(eavesdrop))
        .route("/api/v1/feed", get(feed))
        // Last: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

/// A known path with a method it does not serve: the same JSON error shape as everything else
/// (axum's default is an empty 405).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// An appeal as the API shows it, with each question's deadline status computed at `now`.
pub(crate) fn appeal_dto(a: store::Appeal, now: DateTime<Utc>) -> AppealDto {
    let reg_no = a.reg_no.to_string();
    AppealDto {
        id: a.id,
        applicant_id: a.applicant_id,
        channel: a.channel,
        legal_kind: a.legal_kind,
        answer_channel: a.answer_channel,
        collective: a.collective,
        call_id: a.call_id,
        operator_id: a.operator_id,
        received_at: a.received_at,
        registered_at: a.registered_at,
        legal_due_at: a.legal_due_at,
        extended_due_at: a.extended_due_at,
        extension_notice_sent_at: a.extension_notice_sent_at,
        repeat_of: a.repeat_of,
        questions: a.questions.into_iter().map(|q| question_dto(q, &reg_no, now)).collect(),
        reg_no,
    }
}

fn question_dto(q: store::Question, reg_no: &str, now: DateTime<Utc>) -> QuestionDto {
    // A question is closed when it has assignments and all of them are final.
    let closed_at = if !q.assignments.is_empty() && q.assignments.iter().all(|s| s.state.is_final())
    {
        q.assignments.iter().filter_map(|s| s.closed_at).max()
    } else {
        None
    };
    let deadline_status = match (q.sla_due_at, q.attention_at) {
        (Some(due), Some(attention)) => {
            Some(domain::status(now, attention, due, closed_at).as_str().to_string())
        }
        _ => None,
    };
    QuestionDto {
        id: q.id,
        number: format!("{reg_no}/{}", q.position),
        category_code: q.category_code,
        description: q.description,
        attributes: q.attributes,
        address: q.address.map(Into::into),
        object_ref: q.object_ref,
        is_emergency: q.emergency.is_some(),
        discovered_at: q.emergency.as_ref().map(|e| e.discovered_at),
        nature: q.emergency.map(|e| e.nature),
        severity: q.severity,
        sla_due_at: q.sla_due_at,
        attention_at: q.attention_at,
        deadline_status,
        repeat_of: q.repeat_of,
        assignments: q.assignments.into_iter().map(Into::into).collect(),
    }
}

/// For executors: does this appeal carry an assignment of their organisation?
pub(crate) fn visible_to_executor(a: &store::Appeal, executor_id: i64) -> bool {
    a.questions.iter().flat_map(|q| &q.assignments).any(|s| s.executor_id == executor_id)
}
