//! What the desk, the wall board and the feed share: reaching the engine, turning its
//! refusals into API errors with stable codes, and the checks made before anything is sent
//! to it (so a bad request changes nothing).

use axum::http::StatusCode;
use kontakt_engine::{Command, CommandError, EngineHandle, OperatorStatus, Reply};
use kontakt_store::{Id, NewAudit};

use crate::AppState;
use crate::auth::Caller;
use crate::dto::{DeskDto, TransferTargetDto};
use crate::error::{ApiError, ApiResult};
use crate::registration::now;

/// The running engine, or 503 `telephony_disabled` when Kontakt runs as a registry only.
pub(crate) fn engine(state: &AppState) -> ApiResult<&EngineHandle> {
    state.engine.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_disabled",
            "telephony is not configured",
        )
    })
}

pub(crate) fn engine_stopped() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "telephony_unavailable",
        "the call-center engine is not running",
    )
}

/// The engine's refusal as an API error: 404 for what does not exist, 403 for what is not
/// the caller's, 409 for what is not possible in the current state, 422 (with the field) for
/// a value the configuration does not know, 503 when the engine is gone.
pub(crate) fn command_error(e: CommandError) -> ApiError {
    match e {
        CommandError::UnknownOperator => ApiError::new(
            StatusCode::FORBIDDEN,
            "not_an_operator",
            "this account is not configured as an operator of the call center",
        ),
        CommandError::UnknownCall => ApiError::not_found("call"),
        CommandError::NotYourCall => {
            ApiError::new(StatusCode::FORBIDDEN, "not_your_call", "this call is not yours")
        }
        CommandError::NotAnswered => ApiError::new(
            StatusCode::CONFLICT,
            "not_answered",
            "the call was never answered: there is nothing to link",
        ),
        CommandError::AlreadyLinked => {
            ApiError::new(StatusCode::CONFLICT, "already_linked", "the call is already linked")
        }
        CommandError::NoLiveCall => ApiError::new(
            StatusCode::CONFLICT,
            "no_live_call",
            "there is no call in conversation to act on",
        ),
        CommandError::Refused(why) => ApiError::new(StatusCode::CONFLICT, "refused", why),
        CommandError::UnknownOutcome(v) => unknown_value("outcome", &v),
        CommandError::UnknownReason(v) => unknown_value("reason", &v),
        CommandError::UnknownQueue(v) => unknown_value("queue", &v),
        CommandError::UnknownTarget(v) => unknown_value("target", &v),
        CommandError::Stopped => engine_stopped(),
    }
}

fn unknown_value(field: &str, value: &str) -> ApiError {
    ApiError::field(field, "unknown_value", format!("{value:?} is not configured"))
}

/// Sends a command; the engine's refusal becomes an API error.
pub(crate) async fn command(engine: &EngineHandle, cmd: Command) -> ApiResult<Reply> {
    engine.command(cmd).await.map_err(command_error)
}

/// A value that must be one of the configured ones (checked before anything is sent).
pub(crate) fn configured(field: &str, value: &str, allowed: &[String]) -> ApiResult<()> {
    if allowed.iter().any(|a| a == value) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "unknown_value",
            format!("{value:?} is not configured; one of: {}", allowed.join(", ")),
        ))
    }
}

/// A call's UUID as a path segment: FreeSWITCH channel UUIDs and the engine's callback ids
/// (`cb-<uuid>`). Anything else is 400 `invalid_path`, before the engine is asked.
pub(crate) fn call_uuid(raw: String) -> ApiResult<String> {
    let ok = (1..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "a call is named by its UUID (letters, digits and dashes, at most 64)",
        ))
    }
}

/// The operator's status as the engine knows it.
pub(crate) async fn operator_status(engine: &EngineHandle, user: Id) -> ApiResult<OperatorStatus> {
    match command(engine, Command::OperatorStatus { user }).await? {
        Reply::Operator(status) => Ok(*status),
        other => {
            tracing::error!(?other, "the engine answered OperatorStatus with something else");
            Err(ApiError::internal())
        }
    }
}

/// The desk: the engine's status of the operator and what the configuration offers them.
pub(crate) fn desk_dto(engine: &EngineHandle, s: OperatorStatus) -> DeskDto {
    DeskDto {
        user_id: s.user_id,
        state: s.state,
        reason: s.reason,
        since: s.since,
        call: s.call,
        wrap_up_call: s.wrap_up_call,
        outcomes: s.outcomes,
        pause_reasons: s.pause_reasons,
        directory: engine
            .config()
            .directory
            .iter()
            .map(|t| TransferTargetDto { code: t.code.clone(), name: t.name.clone() })
            .collect(),
        pop: s.pop.and_then(|p| serde_json::to_value(&*p).ok()),
    }
}

/// Records what a person did through the call center (supervisors' actions, reads of the
/// wall board with its callers' numbers). Written after the action succeeded, so refused and
/// malformed requests leave no entry; if the write itself fails, the action stands, the log
/// keeps the trace at error level, and the caller gets 500.
pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: (&str, String),
    detail: serde_json::Value,
) -> ApiResult<()> {
    let entry = NewAudit {
        user_id: Some(caller.user.id),
        action: action.into(),
        subject_kind: subject.0.into(),
        subject_id: subject.1,
        detail: Some(detail.to_string()),
        at: now(),
    };
    if let Err(e) = state.store.audit(entry.clone()).await {
        tracing::error!(error = %e, user = caller.user.id, action = %entry.action,
            subject = %entry.subject_id, detail = ?entry.detail,
            "done but NOT audited: the audit entry could not be written");
        return Err(ApiError::internal());
    }
    Ok(())
}
