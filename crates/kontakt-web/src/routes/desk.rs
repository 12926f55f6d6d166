//! The operator's desk: their state, linking a call to an appeal (existing or registered from
//! the call) or an outcome, hold and transfer. Each request is checked in full before the
//! engine is asked, so a bad one changes nothing; the engine's refusals become 4xx.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_appeals::Channel;
use kontakt_engine::{Command, EngineHandle};
use kontakt_store::{CallLink, Id, StoreError};

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{
    AgentStateRequest, DeskDto, HangupRequest, HoldRequest, LinkRequest, LinkResponse,
    StateRequest, TransferRequest,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::registration;
use crate::telephony::{
    call_uuid, command, command_error, configured, desk_dto, engine, operator_status,
};

/// A state request as the engine takes it; the reason is checked against the configuration.
pub(crate) enum Target {
    Ready,
    Pause(String),
    Logout,
}

pub(crate) fn target(req: StateRequest, pause_reasons: &[String]) -> ApiResult<Target> {
    match (req.state, req.reason) {
        (AgentStateRequest::Pause, Some(reason)) => {
            configured("reason", &reason, pause_reasons)?;
            Ok(Target::Pause(reason))
        }
        (AgentStateRequest::Pause, None) => {
            Err(ApiError::field("reason", "required", "a pause needs one of the pause reasons"))
        }
        (_, Some(_)) => {
            Err(ApiError::field("reason", "not_allowed", "only a pause takes a reason"))
        }
        (AgentStateRequest::Ready, None) => Ok(Target::Ready),
        (AgentStateRequest::Logout, None) => Ok(Target::Logout),
    }
}

async fn desk(engine: &EngineHandle, user: Id) -> ApiResult<DeskDto> {
    Ok(desk_dto(engine, operator_status(engine, user).await?))
}

#[utoipa::path(get, path = "/api/v1/desk", tag = "desk",
    responses((status = 200, description = "the operator's state, calls and choices", body = DeskDto),
        (status = 403, description = "this role may not do this, or the account is not a configured operator (`not_an_operator`)", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured (`telephony_disabled`) or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn get_desk(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<DeskDto>> {
    caller.require(Permission::Desk)?;
    let engine = engine(&state)?;
    Ok(Json(desk(engine, caller.user.id).await?))
}

#[utoipa::path(post, path = "/api/v1/desk/state", tag = "desk", request_body = StateRequest,
    responses((status = 200, description = "the desk after the change", body = DeskDto),
        (status = 409, description = "not possible now, e.g. ready while a call awaits its link (`refused`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn set_desk_state(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<StateRequest>,
) -> ApiResult<Json<DeskDto>> {
    caller.require(Permission::Desk)?;
    let engine = engine(&state)?;
    let user = caller.user.id;
    let target = target(req, &engine.config().pause_reasons)?;
    let cmd = match target {
        // Ready logs a logged-out operator in; the engine does that itself.
        Target::Ready => Command::Ready { user },
        Target::Pause(reason) => {
            // Starting a shift on a break: log in first, then pause.
            if operator_status(engine, user).await?.state == "logged-out" {
                command(engine, Command::Login { user }).await?;
            }
            Command::Pause { user, reason }
        }
        Target::Logout => Command::Logout { user },
    };
    command(engine, cmd).await?;
    Ok(Json(desk(engine, user).await?))
}

/// Whether the operator's call `uuid` can be linked now: in conversation, or ended and
/// awaiting its link. Checked before an appeal is registered for it.
fn linkable(status: &kontakt_engine::OperatorStatus, uuid: &str) -> ApiResult<()> {
    if status.wrap_up_call.as_deref() == Some(uuid) {
        return Ok(());
    }
    if status.call.as_deref() == Some(uuid) {
        return if status.state == "talking" {
            Ok(())
        } else {
            Err(command_error(kontakt_engine::CommandError::NotAnswered))
        };
    }
    // Not this operator's current or last call: unknown to them.
    Err(command_error(kontakt_engine::CommandError::UnknownCall))
}

/// Field errors of the nested appeal, named as the client sent them (`appeal.questions[0]…`).
fn nested(mut e: ApiError, prefix: &str) -> ApiError {
    for f in &mut e.fields {
        f.field = if f.field.is_empty() { prefix.into() } else { format!("{prefix}.{}", f.field) };
    }
    if let [f] = e.fields.as_slice() {
        e.message = format!("{}: {}", f.field, f.message);
    }
    e
}

#[utoipa::path(post, path = "/api/v1/desk/calls/{uuid}/link", tag = "desk", request_body = LinkRequest,
    params(("uuid" = String, Path, description = "the call's UUID (from the screen-pop)")),
    responses((status = 200, description = "linked", body = LinkResponse),
        (status = 400, description = "not a call UUID (`invalid_path`)", body = crate::error::ErrorBody),
        (status = 403, description = "not the caller's call (`not_your_call`)", body = crate::error::ErrorBody),
        (status = 404, description = "no such call awaiting a link", body = crate::error::ErrorBody),
        (status = 409, description = "not answered (`not_answered`) or already linked (`already_linked`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn link_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(uuid): ApiPath<String>,
    ApiJson(req): ApiJson<LinkRequest>,
) -> ApiResult<Json<LinkResponse>> {
    caller.require(Permission::Desk)?;
    let uuid = call_uuid(uuid)?;
    let engine = engine(&state)?;
    let user = caller.user.id;
    let (link, registered) = match (req.appeal_id, req.outcome, req.appeal) {
        (Some(id), None, None) => {
            // The record writer refuses a link to a missing appeal, long after this request
            // returned: check it here.
            match state.store.appeal(id).await {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::field(
                        "appeal_id",
                        "not_found",
                        format!("no appeal {id}"),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            (CallLink::Appeal(id), None)
        }
        (None, Some(outcome), None) => {
            configured("outcome", &outcome, &engine.config().outcomes)?;
            (CallLink::Outcome(outcome), None)
        }
        (None, None, Some(mut appeal)) => {
            caller.require(Permission::RegisterAppeals)?;
            if appeal.channel != Channel::Phone {
                return Err(ApiError::field(
                    "appeal.channel",
                    "invalid",
                    "an appeal registered from a call has the channel phone",
                ));
            }
            match &appeal.call_id {
                Some(id) if *id != uuid => {
                    return Err(ApiError::field(
                        "appeal.call_id",
                        "mismatch",
                        "the appeal's call_id must be this call's UUID (or left out)",
                    ));
                }
                _ => appeal.call_id = Some(uuid.clone()),
            }
            // Register only what can be linked: nothing is written for a call that is not
            // this operator's to link.
            linkable(&operator_status(engine, user).await?, &uuid)?;
            let reg = registration::register(state.store.as_ref(), caller.actor(), appeal)
                .await
                .map_err(|e| nested(e, "appeal"))?;
            (CallLink::Appeal(reg.appeal.id), Some(reg))
        }
        _ => {
            return Err(ApiError::field(
                "appeal_id",
                "exactly_one",
                "give exactly one of appeal_id, outcome or appeal",
            ));
        }
    };
    let result =
        engine.command(Command::Link { user, call: uuid.clone(), link: link.clone() }).await;
    if let Err(e) = result {
        if let Some(reg) = &registered {
            // Only a concurrent request for the same call gets here (the call was checked
            // just before): the appeal stands, unlinked; say which it is.
            tracing::warn!(call = %uuid, appeal = reg.appeal.id, error = %e,
                "an appeal registered from a call could not be linked to it");
            let mut err = command_error(e);
            err.message = format!(
                "{}; appeal {} was registered but is not linked to the call",
                err.message, reg.appeal.reg_no
            );
            return Err(err);
        }
        return Err(command_error(e));
    }
    let (appeal_id, outcome) = match link {
        CallLink::Appeal(id) => (Some(id), None),
        CallLink::Outcome(o) => (None, Some(o)),
    };
    Ok(Json(LinkResponse { call: uuid, appeal_id, outcome, registered }))
}

#[utoipa::path(post, path = "/api/v1/desk/hold", tag = "desk", request_body = HoldRequest,
    responses((status = 204, description = "sent to the switch; the feed says `held` when it took effect"),
        (status = 409, description = "no call in conversation (`no_live_call`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HoldRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Desk)?;
    let engine = engine(&state)?;
    command(engine, Command::Hold { user: caller.user.id, hold: req.hold }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/desk/hangup", tag = "desk", request_body = HangupRequest,
    responses((status = 204, description = "sent to the switch; the feed says `ended` (with `wrap_up`) when the call is down"),
        (status = 400, description = "not a call UUID", body = crate::error::ErrorBody),
        (status = 403, description = "that call is not the operator's call in conversation (`not_your_call`)", body = crate::error::ErrorBody),
        (status = 409, description = "no call in conversation (`no_live_call`)", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn hangup(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HangupRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Desk)?;
    let engine = engine(&state)?;
    let call = call_uuid(req.call)?;
    command(engine, Command::Hangup { user: caller.user.id, call }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/desk/transfer", tag = "desk", request_body = TransferRequest,
    responses((status = 204, description = "sent to the switch; the feed says `transferred`"),
        (status = 409, description = "no call in conversation (`no_live_call`)", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; an unknown target is `unknown_value`", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TransferRequest>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Desk)?;
    let engine = engine(&state)?;
    let codes: Vec<String> = engine.config().directory.iter().map(|t| t.code.clone()).collect();
    configured("target", &req.target, &codes)?;
    command(engine, Command::Transfer { user: caller.user.id, target: req.target }).await?;
    Ok(StatusCode::NO_CONTENT)
}
