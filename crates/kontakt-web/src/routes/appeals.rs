//! Appeals, their questions' assignments, and the timeline: register, read, list, route,
//! move through the lifecycle, extend the legal term.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_appeals::{self as domain, Action, RegNo};
use kontakt_store::{AppealFilter, AssignmentChange, NewAssignment, StoreError};

use crate::AppState;
use crate::access::{Permission, actor_kind};
use crate::auth::Caller;
use crate::dto::{
    AppealDto, AppealListQuery, AppealPage, AssignmentDto, ExtendRequest, NewAppealRequest,
    NewAssignmentRequest, RegistrationResponse, TimelineDto, TransitionRequest,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::registration::{self, now};
use crate::routes::{appeal_dto, visible_to_executor};

#[utoipa::path(post, path = "/api/v1/appeals", tag = "appeals", request_body = NewAppealRequest,
    responses((status = 201, description = "created", body = RegistrationResponse), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn register_appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewAppealRequest>,
) -> ApiResult<(StatusCode, Json<RegistrationResponse>)> {
    caller.require(Permission::RegisterAppeals)?;
    let registered = registration::register(state.store.as_ref(), caller.actor(), req).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Reads an appeal the caller may see; executors get 404 for others' appeals, so they cannot
/// even learn that an appeal exists.
fn visible_appeal(
    caller: &Caller,
    appeal: Result<kontakt_store::Appeal, StoreError>,
) -> ApiResult<kontakt_store::Appeal> {
    caller.require(Permission::ReadAppeals)?;
    let appeal = appeal?;
    if let Some(executor) = caller.executor_scope()?
        && !visible_to_executor(&appeal, executor)
    {
        return Err(ApiError::not_found("appeal"));
    }
    Ok(appeal)
}

#[utoipa::path(get, path = "/api/v1/appeals/{id}", tag = "appeals", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = AppealDto), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn get_appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AppealDto>> {
    let appeal = visible_appeal(&caller, state.store.appeal(id).await)?;
    Ok(Json(appeal_dto(appeal, now())))
}

#[utoipa::path(get, path = "/api/v1/appeals/by-number/{reg_no}", tag = "appeals",
    params(("reg_no" = String, Path, description = "YYYY-NNNNNN")),
    responses((status = 200, description = "OK", body = AppealDto), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn get_appeal_by_number(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reg_no): ApiPath<String>,
) -> ApiResult<Json<AppealDto>> {
    let reg_no: RegNo = reg_no.parse().map_err(|_| {
        ApiError::field("reg_no", "invalid", "registration numbers look like 2026-000123")
    })?;
    let appeal = visible_appeal(&caller, state.store.appeal_by_reg_no(reg_no).await)?;
    Ok(Json(appeal_dto(appeal, now())))
}

#[utoipa::path(get, path = "/api/v1/appeals", tag = "appeals", params(
        ("applicant_id" = Option<i64>, Query), ("channel" = Option<String>, Query),
        ("category" = Option<String>, Query, description = "category code prefix"),
        ("executor_id" = Option<i64>, Query), ("state" = Option<String>, Query),
        ("registered_from" = Option<String>, Query), ("registered_to" = Option<String>, Query),
        ("text" = Option<String>, Query), ("before_id" = Option<i64>, Query),
        ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "OK", body = AppealPage)))]
pub(crate) async fn list_appeals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AppealListQuery>,
) -> ApiResult<Json<AppealPage>> {
    caller.require(Permission::ReadAppeals)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1 to 500"));
    }
    let channel = match q.channel.as_deref() {
        Some(c) => Some(c.parse().map_err(|e: domain::UnknownValue| {
            ApiError::field("channel", "unknown_value", e.to_string())
        })?),
        None => None,
    };
    let state_filter = match q.state.as_deref() {
        Some(s) => Some(s.parse().map_err(|e: domain::UnknownValue| {
            ApiError::field("state", "unknown_value", e.to_string())
        })?),
        None => None,
    };
    // Executors always see only their own organisation's work, whatever they ask for.
    let executor_id = caller.executor_scope()?.or(q.executor_id);
    let filter = AppealFilter {
        applicant_id: q.applicant_id,
        channel,
        category_prefix: q.category,
        executor_id,
        state: state_filter,
        registered_from: q.registered_from,
        registered_to: q.registered_to,
        text: q.text,
        building_key: None,
        before_id: q.before_id,
        limit,
    };
    let items = state.store.list_appeals(&filter).await?;
    let next_before_id = if items.len() == usize::try_from(limit).unwrap_or(usize::MAX) {
        items.last().map(|a| a.id)
    } else {
        None
    };
    let at = now();
    Ok(Json(AppealPage {
        items: items.into_iter().map(|a| appeal_dto(a, at)).collect(),
        next_before_id,
    }))
}

#[utoipa::path(get, path = "/api/v1/appeals/{id}/timeline", tag = "appeals",
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = Vec<TimelineDto>), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn appeal_timeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<TimelineDto>>> {
    visible_appeal(&caller, state.store.appeal(id).await)?;
    let executor = caller.executor_scope()?.is_some();
    let entries = state.store.timeline(id).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(TimelineDto::from)
            .map(|mut t| {
                if executor {
                    t.private_text = None;
                }
                t
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/appeals/{id}/extend", tag = "appeals", request_body = ExtendRequest,
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = AppealDto), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn extend_deadline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ExtendRequest>,
) -> ApiResult<Json<AppealDto>> {
    caller.require(Permission::ExtendDeadline)?;
    let appeal = state.store.appeal(id).await?;
    let current = appeal.extended_due_at.or(appeal.legal_due_at).ok_or_else(|| {
        ApiError::field(
            "extended_due_at",
            "no_legal_term",
            "this appeal has no legal term to extend",
        )
    })?;
    let at = now();
    // A notice dated later than now has not been sent yet: the law wants it recorded first.
    if req.notice_sent_at.is_some_and(|n| n > at + domain::question::CLOCK_SKEW) {
        return Err(ApiError::field(
            "notice_sent_at",
            "in_future",
            "the applicant must be notified before the term is extended",
        ));
    }
    let due = domain::extend(appeal.received_at, current, req.extended_due_at, req.notice_sent_at)
        .map_err(|e| {
            // The domain's own stable code says which rule refused it.
            let field = match e {
                domain::DeadlineError::NoticeRequired
                | domain::DeadlineError::NoticeAfterDue { .. } => "notice_sent_at",
                _ => "extended_due_at",
            };
            ApiError::field(field, e.code(), e.to_string())
        })?;
    let notice = req.notice_sent_at.ok_or_else(|| {
        ApiError::field("notice_sent_at", "required", "the applicant must be notified first")
    })?;
    let appeal = state.store.extend_deadline(id, due, notice, caller.actor(), at).await?;
    Ok(Json(appeal_dto(appeal, at)))
}

#[utoipa::path(post, path = "/api/v1/questions/{id}/assignments", tag = "assignments",
    request_body = NewAssignmentRequest, params(("id" = i64, Path)),
    responses((status = 201, description = "created", body = AssignmentDto), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn add_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(question_id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewAssignmentRequest>,
) -> ApiResult<(StatusCode, Json<AssignmentDto>)> {
    caller.require(Permission::Route)?;
    state.store.executor(req.executor_id).await.map_err(|e| match e {
        StoreError::NotFound { .. } => {
            ApiError::field("executor_id", "not_found", "no such executor")
        }
        other => other.into(),
    })?;
    let assignment = state
        .store
        .add_assignment(
            question_id,
            NewAssignment { executor_id: req.executor_id, due_at: None },
            caller.actor(),
            now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(assignment.into())))
}

#[utoipa::path(get, path = "/api/v1/assignments/{id}", tag = "assignments", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = AssignmentDto), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn get_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AssignmentDto>> {
    caller.require(Permission::ReadAppeals)?;
    let (assignment, _) = state.store.assignment(id).await?;
    if let Some(executor) = caller.executor_scope()?
        && assignment.executor_id != executor
    {
        return Err(ApiError::not_found("assignment"));
    }
    Ok(Json(assignment.into()))
}

#[utoipa::path(post, path = "/api/v1/assignments/{id}/transition", tag = "assignments",
    request_body = TransitionRequest, params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = AssignmentDto), (status = 409, description = "conflict: illegal transition, stale version or duplicate", body = crate::error::ErrorBody)))]
pub(crate) async fn transition_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TransitionRequest>,
) -> ApiResult<Json<AssignmentDto>> {
    caller.require(Permission::Transition)?;
    for (field, text) in [("public_text", &req.public_text), ("private_text", &req.private_text)] {
        if text.as_ref().is_some_and(|t| t.chars().count() > 10_000) {
            return Err(ApiError::field(field, "too_long", "at most 10000 characters"));
        }
    }
    let (current, _) = state.store.assignment(id).await?;
    if let Some(executor) = caller.executor_scope()?
        && current.executor_id != executor
    {
        return Err(ApiError::not_found("assignment"));
    }
    if let Some(seen) = req.expected_version
        && seen != current.version
    {
        return Err(StoreError::Stale { what: "assignment" }.into());
    }
    let to =
        domain::transition(current.state, req.action, req.result, actor_kind(caller.user.role))?;
    let at = now();
    let rework = req.action == Action::Reject;
    // After a failed check the executor gets a new, shorter window (appeals.md §5.3 rule 4).
    let due_at = match (rework, current.due_at) {
        (true, Some(due)) => Some(domain::rework_due(at, due - current.issued_at)),
        _ => None,
    };
    let changed = state
        .store
        .change_assignment(AssignmentChange {
            assignment_id: id,
            expected_version: current.version,
            to,
            // A report sets the result; the check that follows keeps it; anything else (accept,
            // reject, cancel, reroute) starts the assignment afresh.
            result: match req.action {
                Action::Report => req.result,
                Action::Confirm | Action::Unreachable => current.result,
                _ => req.result,
            },
            accepted_at: (req.action == Action::Accept).then_some(at),
            closed_at: to.is_final().then_some(at),
            due_at,
            rework_increment: rework,
            actor: caller.actor(),
            public_text: req.public_text,
            private_text: req.private_text,
            at,
        })
        .await
        .map_err(|e| match e {
            // The assignment was read above and assignments are never deleted: on PostgreSQL a
            // version-guarded UPDATE that lost a race to a concurrent change finds no row and
            // the store reports NotFound. For the caller that is a stale version.
            StoreError::NotFound { .. } => StoreError::Stale { what: "assignment" },
            other => other,
        })?;
    Ok(Json(changed.into()))
}
