//! The supervisors' wall board: every agent and live call, and what supervisors may do to
//! them. Each action is checked in full before the engine is asked, and audited once it is
//! done (with the caller numbers on the board, reading it is audited too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_acd::ForcedState;
use kontakt_engine::{Command, CommandError, Reply};
use serde_json::json;

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{EavesdropRequest, MoveCallRequest, PriorityRequest, StateRequest, WallboardDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::desk::{Target, target};
use crate::telephony::{audit, call_uuid, command, command_error, configured, engine};

#[utoipa::path(get, path = "/api/v1/wallboard", tag = "wallboard",
    responses((status = 200, description = "agents, live calls and queue statistics now. Every read is audited (the board shows callers' numbers): a live board follows GET /api/v1/feed instead of polling this", body = WallboardDto),
        (status = 403, description = "this role may not do this", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured (`telephony_disabled`) or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn get_wallboard(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<WallboardDto>> {
    caller.require(Permission::Supervise)?;
    let engine = engine(&state)?;
    let Reply::Snapshot(snap) = command(engine, Command::Snapshot).await? else {
        tracing::error!("the engine answered Snapshot with something else");
        return Err(ApiError::internal());
    };
    audit(&state, &caller, "read_wallboard", ("wallboard", String::new()), json!({})).await?;
    Ok(Json(WallboardDto::from(*snap)))
}

#[utoipa::path(post, path = "/api/v1/wallboard/agents/{user_id}/state", tag = "wallboard",
    request_body = StateRequest, params(("user_id" = i64, Path, description = "the operator's user id")),
    responses((status = 204, description = "done (the feed shows the agent's new state)"),
        (status = 404, description = "no such operator in the call center", body = crate::error::ErrorBody),
        (status = 409, description = "not possible now (`refused`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn force_agent_state(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(agent): ApiPath<i64>,
    ApiJson(req): ApiJson<StateRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Supervise)?;
    let engine = engine(&state)?;
    // The engine does not check a forced pause's reason: the configuration's list holds here
    // as it does for operators.
    let (forced, name, reason) = match target(req, &engine.config().pause_reasons)? {
        Target::Ready => (ForcedState::Ready, "ready", None),
        Target::Pause(r) => (ForcedState::Paused(r.clone()), "pause", Some(r)),
        Target::Logout => (ForcedState::LoggedOut, "logout", None),
    };
    engine.command(Command::ForceState { agent, state: forced }).await.map_err(|e| match e {
        CommandError::UnknownOperator => ApiError::not_found("operator"),
        other => command_error(other),
    })?;
    audit(
        &state,
        &caller,
        "force_agent_state",
        ("operator", agent.to_string()),
        json!({"state": name, "reason": reason}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/wallboard/calls/{uuid}/queue", tag = "wallboard",
    request_body = MoveCallRequest, params(("uuid" = String, Path, description = "the call's UUID")),
    responses((status = 204, description = "moved"),
        (status = 400, description = "not a call UUID (`invalid_path`)", body = crate::error::ErrorBody),
        (status = 404, description = "no such call waiting", body = crate::error::ErrorBody),
        (status = 409, description = "not possible now, e.g. already with an operator (`refused`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; an unknown queue is `unknown_value`", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn move_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
    ApiJson(req): ApiJson<MoveCallRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Supervise)?;
    let uuid = call_uuid(uuid)?;
    let engine = engine(&state)?;
    let queues: Vec<String> = engine.config().queues.iter().map(|q| q.name.clone()).collect();
    configured("queue", &req.queue, &queues)?;
    command(engine, Command::MoveCall { call: uuid.clone(), queue: req.queue.clone() }).await?;
    audit(&state, &caller, "move_call", ("call", uuid), json!({"queue": req.queue})).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/wallboard/calls/{uuid}/priority", tag = "wallboard",
    request_body = PriorityRequest, params(("uuid" = String, Path, description = "the call's UUID")),
    responses((status = 204, description = "changed"),
        (status = 400, description = "not a call UUID (`invalid_path`)", body = crate::error::ErrorBody),
        (status = 404, description = "no such call waiting", body = crate::error::ErrorBody),
        (status = 409, description = "not possible now (`refused`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
    ApiJson(req): ApiJson<PriorityRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Supervise)?;
    let uuid = call_uuid(uuid)?;
    let engine = engine(&state)?;
    command(engine, Command::SetPriority { call: uuid.clone(), priority: req.priority }).await?;
    audit(&state, &caller, "set_call_priority", ("call", uuid), json!({"priority": req.priority}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/wallboard/calls/{uuid}/eavesdrop", tag = "wallboard",
    request_body = EavesdropRequest, params(("uuid" = String, Path, description = "the call's UUID")),
    responses((status = 204, description = "the supervisor's phone is being rung into the call"),
        (status = 400, description = "not a call UUID (`invalid_path`)", body = crate::error::ErrorBody),
        (status = 404, description = "no such call", body = crate::error::ErrorBody),
        (status = 409, description = "the call is not in conversation (`no_live_call`), or the supervisor has no phone configured (`refused`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn eavesdrop(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
    ApiJson(req): ApiJson<EavesdropRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Supervise)?;
    let uuid = call_uuid(uuid)?;
    let engine = engine(&state)?;
    let cmd = Command::Eavesdrop {
        supervisor: caller.user.id,
        call: uuid.clone(),
        mode: req.mode.into(),
    };
    command(engine, cmd).await?;
    audit(&state, &caller, "eavesdrop", ("call", uuid), json!({"mode": req.mode})).await?;
    Ok(StatusCode::NO_CONTENT)
}
