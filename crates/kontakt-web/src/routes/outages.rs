//! Outages: accidents, planned works and restrictions, and the streets and buildings they
//! leave without a service (docs/outages.md). Supervisors, administrators and executors (for
//! their own organisation) register and end them, and each of those is audited; everyone
//! who answers citizens or fixes what they report reads them. The screen-pop shows the ones
//! in force at the caller's address (kontakt-engine, `caller.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_appeals::{OutageDraft, OutagePlace, validate_outage_end};
use kontakt_store::{NewOutage, OutageFilter, StoreError};
use serde_json::json;

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{EndOutageRequest, OutageDto, OutageListQuery, OutageRequest};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::registration::now;
use crate::telephony::audit;

/// Outages one list returns unless the request says otherwise.
const DEFAULT_LIMIT: i64 = 100;
/// Most outages one list returns.
const MAX_LIMIT: i64 = 500;

#[utoipa::path(post, path = "/api/v1/outages", tag = "outages", request_body = OutageRequest,
    responses((status = 201, description = "registered (audited as `create_outage`)", body = OutageDto),
        (status = 403, description = "this role may not do this, or an executor named another organisation", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; `fields` names each field at fault (`area[2].street`); an unknown executor is `missing_reference`", body = crate::error::ErrorBody)))]
pub(crate) async fn create_outage(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<OutageRequest>,
) -> ApiResult<(StatusCode, Json<OutageDto>)> {
    caller.require(Permission::ManageOutages)?;
    // An executor speaks for its own organisation only.
    let executor_id = match caller.executor_scope()? {
        Some(own) if req.executor_id.is_some_and(|named| named != own) => {
            return Err(ApiError::forbidden(
                "an executor registers outages of its own organisation only",
            ));
        }
        Some(own) => Some(own),
        None => req.executor_id,
    };
    let at = now();
    let draft = OutageDraft {
        kind: req.kind,
        class: req.class,
        nature: req.nature,
        area: req.area.into_iter().map(Into::into).collect(),
        executor_id,
        started_at: req.started_at.unwrap_or(at),
        planned_end_at: req.planned_end_at,
        public_message: req.public_message,
    }
    .normalized();
    draft.validate(at)?;
    let outage = state
        .store
        .create_outage(NewOutage { draft, created_by: Some(caller.user.id), created_at: at })
        .await?;
    audit(
        &state,
        &caller,
        "create_outage",
        ("outage", outage.id.to_string()),
        json!({"kind": outage.kind, "class": outage.class, "executor_id": outage.executor_id,
            "places": outage.area.len()}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(OutageDto::new(outage, at))))
}

#[utoipa::path(get, path = "/api/v1/outages", tag = "outages", params(OutageListQuery),
    responses((status = 200, description = "newest start first", body = Vec<OutageDto>),
        (status = 400, description = "an unknown parameter or a malformed value (`invalid_query`)", body = crate::error::ErrorBody),
        (status = 422, description = "`building` without `street`, a place too long, or `limit` out of range", body = crate::error::ErrorBody)))]
pub(crate) async fn list_outages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OutageListQuery>,
) -> ApiResult<Json<Vec<OutageDto>>> {
    caller.require(Permission::ReadOutages)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", format!("1 to {MAX_LIMIT}")));
    }
    let blank_to_none = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let place = match (blank_to_none(q.street), blank_to_none(q.building)) {
        (None, Some(_)) => {
            return Err(ApiError::field("street", "required", "a building needs its street"));
        }
        (None, None) => None,
        (Some(street), building) => {
            let place = OutagePlace { street, building }.normalized();
            // The same bounds as a place of an outage: a key is never built from a megabyte.
            place.validate()?;
            Some(place)
        }
    };
    let at = now();
    let filter = OutageFilter {
        active_at: q.active.unwrap_or(false).then_some(at),
        street_key: place.as_ref().map(OutagePlace::street_key),
        building_key: place.as_ref().and_then(OutagePlace::building_key),
        executor_id: q.executor_id,
        limit,
    };
    let outages = state.store.list_outages(&filter).await?;
    Ok(Json(outages.into_iter().map(|o| OutageDto::new(o, at)).collect()))
}

fn already_ended() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "already_ended", "this outage has already ended")
}

#[utoipa::path(post, path = "/api/v1/outages/{id}/end", tag = "outages",
    params(("id" = i64, Path)), request_body = EndOutageRequest,
    responses((status = 200, description = "ended (audited as `end_outage`)", body = OutageDto),
        (status = 403, description = "this role may not do this, or the outage is another organisation's", body = crate::error::ErrorBody),
        (status = 404, description = "no such outage", body = crate::error::ErrorBody),
        (status = 409, description = "it has already ended (`already_ended`)", body = crate::error::ErrorBody),
        (status = 422, description = "`ended_at` before the start or in the future", body = crate::error::ErrorBody)))]
pub(crate) async fn end_outage(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<EndOutageRequest>,
) -> ApiResult<Json<OutageDto>> {
    caller.require(Permission::ManageOutages)?;
    let outage = state.store.outage(id).await?;
    if let Some(own) = caller.executor_scope()?
        && outage.executor_id != Some(own)
    {
        return Err(ApiError::forbidden("an executor ends its own organisation's outages only"));
    }
    if outage.ended_at.is_some() {
        return Err(already_ended());
    }
    let at = now();
    let ended_at = req.ended_at.unwrap_or(at);
    validate_outage_end(outage.started_at, ended_at, at)?;
    // Someone else may have ended it since it was read: the store refuses a second end.
    let ended = state.store.end_outage(id, ended_at).await.map_err(|e| match e {
        StoreError::Conflict(_) => already_ended(),
        other => other.into(),
    })?;
    audit(&state, &caller, "end_outage", ("outage", id.to_string()), json!({"ended_at": ended_at}))
        .await?;
    Ok(Json(OutageDto::new(ended, at)))
}
