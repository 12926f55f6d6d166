//! The supervisors' wall board: every agent and live call, and what supervisors may do to
//! them. Each action is checked in full before the engine is asked, and audited once it is
//! done (with the caller numbers on the board, reading it is audited too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use kontakt_acd::ForcedState;
use kontakt_engine::{Command, CommandError, Reply};
use serde_json::json;

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{
    AgentAnsweredDto, EavesdropRequest, IntradayBucketDto, IntradayDto, MoveCallRequest,
    PriorityRequest, StateRequest, WallboardDto,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
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

/// The intraday chart's interval.
pub(crate) const INTRADAY_BUCKET_SECS: u32 = 15 * 60;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct IntradayQuery {
    /// A Kyiv calendar day, YYYY-MM-DD. Default: today in Kyiv.
    date: Option<String>,
}

/// Midnight in Kyiv at the start of `day`, in UTC. Kyiv's clocks change at 03:00 and 04:00,
/// so midnight always exists once; the fallbacks only keep a gap from panicking.
fn kyiv_midnight(day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    match Kyiv.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => Utc.from_utc_datetime(&naive),
    }
}

/// The Kyiv day `date` names (today when `None`) as `[from, to)` in UTC.
pub(crate) fn kyiv_day(
    date: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
    let bad =
        || ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "date is a day as YYYY-MM-DD");
    let day = match date {
        None => now.with_timezone(&Kyiv).date_naive(),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?,
    };
    let next = day.succ_opt().ok_or_else(bad)?;
    Ok((day, kyiv_midnight(day), kyiv_midnight(next)))
}

#[utoipa::path(get, path = "/api/v1/wallboard/intraday", tag = "wallboard", params(IntradayQuery),
    responses((status = 200, description = "inbound calls offered, answered and abandoned per 15 minutes of a Kyiv day (today by default), from the call records, and the calls each operator answered that day. Counts only, no personal data: not audited. Works without telephony", body = IntradayDto),
        (status = 400, description = "a malformed date or an unknown parameter (`invalid_query`)", body = crate::error::ErrorBody),
        (status = 403, description = "this role may not do this", body = crate::error::ErrorBody)))]
pub(crate) async fn get_intraday(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IntradayQuery>,
) -> ApiResult<Json<IntradayDto>> {
    caller.require(Permission::Supervise)?;
    let now = Utc::now();
    let (day, from, to) = kyiv_day(q.date.as_deref(), now)?;
    let data = state.store.call_intraday(from, to, INTRADAY_BUCKET_SECS).await?;
    let sum = |f: fn(&kontakt_store::IntradayBucket) -> i64| data.buckets.iter().map(f).sum();
    Ok(Json(IntradayDto {
        date: day.format("%Y-%m-%d").to_string(),
        time_zone: "Europe/Kyiv".into(),
        from,
        to,
        bucket_secs: INTRADAY_BUCKET_SECS,
        offered: sum(|b| b.offered),
        answered: sum(|b| b.answered),
        abandoned: sum(|b| b.abandoned),
        buckets: data
            .buckets
            .into_iter()
            .map(|b| IntradayBucketDto {
                start: b.start,
                offered: b.offered,
                answered: b.answered,
                abandoned: b.abandoned,
            })
            .collect(),
        agents: data
            .agents
            .into_iter()
            .map(|a| AgentAnsweredDto { user_id: a.user_id, answered: a.answered })
            .collect(),
        at: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn a_kyiv_day_is_midnight_to_midnight_including_the_clock_changes() {
        // Winter (UTC+2): 30 November 2026.
        let (day, from, to) = kyiv_day(None, utc("2026-11-30T21:59:59Z")).unwrap();
        assert_eq!(day.to_string(), "2026-11-30");
        assert_eq!((from, to), (utc("2026-11-29T22:00:00Z"), utc("2026-11-30T22:00:00Z")));
        // Two seconds later it is already 1 December in Kyiv.
        let (day, ..) = kyiv_day(None, utc("2026-11-30T22:00:01Z")).unwrap();
        assert_eq!(day.to_string(), "2026-12-01");
        // Spring forward (29 March 2026): 23 hours; fall back (25 October 2026): 25 hours.
        let (_, from, to) = kyiv_day(Some("2026-03-29"), Utc::now()).unwrap();
        assert_eq!((from, (to - from).num_hours()), (utc("2026-03-28T22:00:00Z"), 23));
        let (_, from, to) = kyiv_day(Some("2026-10-25"), Utc::now()).unwrap();
        assert_eq!((from, (to - from).num_hours()), (utc("2026-10-24T21:00:00Z"), 25));
    }

    #[test]
    fn a_bad_date_is_a_400_not_a_panic() {
        for bad in ["", "2026-13-01", "30.11.2026", "2026-11-30T00:00", "+262142-12-31"] {
            let err = kyiv_day(Some(bad), Utc::now()).unwrap_err();
            assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "invalid_query"), "{bad}");
        }
    }
}
