//! `GET /api/v1/feed`: the live feed as a WebSocket (protocol: docs/websocket.md).
//!
//! A browser cannot set headers on a WebSocket, so the session cookie is accepted as well as a
//! bearer token; with the cookie, the `Origin` must name the host the request was sent to
//! (no other site can open the feed on an operator's behalf). Everything that can fail is
//! checked before the upgrade, so failures are ordinary JSON errors.

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use kontakt_store::Role;
use serde_json::json;

use crate::WebState;
use crate::access::Permission;
use crate::auth::{AuthMethod, Caller, bearer, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::feed::conn::{self, First, Timing};
use crate::feed::{Credential, EngineBackend, Socket, StreamKey, View};
use crate::telephony::{audit, command_error, engine, engine_stopped, operator_status};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedQuery {
    /// `<stream>:<seq>`: the `stream` of the last snapshot or `resumed` message and the last
    /// `seq` received. The missed messages follow a `resumed` message if the server still
    /// has them; otherwise the feed starts with a fresh `snapshot`.
    resume: Option<String>,
    /// `desk` (the caller's own call events; operators, and supervisors who take calls) or
    /// `wallboard` (supervisors and administrators). Default: by role.
    view: Option<String>,
    /// `pop`: this desk acknowledges each screen-pop once it shows it, and the operator's
    /// phone rings only then (or after `screen_pop_lead_ms`). Desk view only.
    ack: Option<String>,
}

/// Same origin: the `Origin` header's host (and port) is the `Host` the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h| headers.get(h).and_then(|v| v.to_str().ok());
    match (get(header::ORIGIN), get(header::HOST)) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

fn parse_resume(raw: &str) -> ApiResult<(String, u64)> {
    raw.split_once(':')
        .and_then(|(id, seq)| Some((id.to_string(), seq.parse().ok()?)))
        .filter(|(id, _)| !id.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "resume is <stream>:<seq>, as the last snapshot or resumed message gave",
            )
        })
}

#[utoipa::path(get, path = "/api/v1/feed", tag = "feed", params(FeedQuery),
    responses((status = 101, description = "switching to the WebSocket protocol of docs/websocket.md"),
        (status = 400, description = "a malformed resume point or view (`invalid_query`)", body = crate::error::ErrorBody),
        (status = 401, description = "not logged in", body = crate::error::ErrorBody),
        (status = 403, description = "this role may not watch this view; the account is not a configured operator (`not_an_operator`); or a cookie from another origin (`origin_mismatch`)", body = crate::error::ErrorBody),
        (status = 426, description = "not a WebSocket handshake (`upgrade_required`)", body = crate::error::ErrorBody),
        (status = 503, description = "telephony is not configured (`telephony_disabled`) or not running", body = crate::error::ErrorBody)))]
pub(crate) async fn feed(
    State(web): State<WebState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FeedQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let view = match q.view.as_deref() {
        Some("desk") => View::Desk,
        Some("wallboard") => View::Wallboard,
        None if caller.user.role == Role::Operator => View::Desk,
        None => View::Wallboard,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "view is desk or wallboard",
            ));
        }
    };
    caller.require(match view {
        View::Desk => Permission::Desk,
        View::Wallboard => Permission::Supervise,
    })?;
    let resume = q.resume.as_deref().map(parse_resume).transpose()?;
    let acks_pops = match q.ack.as_deref() {
        None => false,
        Some("pop") if view == View::Desk => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "ack is pop, on the desk view only",
            ));
        }
    };
    let credential = match caller.method {
        AuthMethod::Session => {
            if !same_origin(&headers) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_mismatch",
                    "a cookie-authenticated feed must come from a page of this site (Origin = Host)",
                ));
            }
            Credential::Session(caller.session_hash.clone().unwrap_or_default())
        }
        AuthMethod::Token => {
            Credential::Token(bearer(&headers).map(token_hash).unwrap_or_default())
        }
    };
    let ws = ws.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this endpoint is a WebSocket: open it with a WebSocket handshake",
        )
    })?;
    let engine = engine(&web.app)?.clone();
    let hub = web.hub.clone().ok_or_else(engine_stopped)?;
    let key = StreamKey { view, user: caller.user.id };
    if view == View::Desk {
        // Refuses accounts the engine does not know as operators, before the upgrade.
        operator_status(&engine, key.user).await?;
    }
    // Subscribe first, then take the snapshot: whatever happens in between is both in the
    // snapshot and in the queue, and the feed's messages are idempotent.
    let own_stream = resume.as_ref().filter(|(id, _)| id == hub.stream_id()).map(|(_, s)| *s);
    let mut sub = hub.subscribe(key, own_stream).await.ok_or_else(engine_stopped)?;
    let first = match (&resume, own_stream) {
        (Some(_), Some(last)) if sub.replay.is_some() => First::Resumed { last },
        _ => First::Snapshot {
            data: crate::feed::snapshot(&engine, key).await.map_err(command_error)?,
            reason: match (&resume, own_stream) {
                (None, _) => "connect",
                (Some(_), None) => "stream_changed",
                (Some(_), Some(_)) => "resume_unavailable",
            },
        },
    };
    if !matches!(first, First::Resumed { .. }) {
        sub.replay = None;
    }
    if view == View::Wallboard {
        // The board shows callers' numbers: who watched it, and when, is on record.
        audit(&web.app, &caller, "open_feed", ("feed", view.name().into()), json!({})).await?;
    }
    let backend = EngineBackend {
        engine,
        store: web.app.store.clone(),
        user: key.user,
        credential,
        view,
        acks_pops,
    };
    // Clients send only small control messages (resume, acks, close): a 4 KiB read buffer
    // instead of tungstenite's 128 KiB default, which it zero-fills on the first read —
    // per connection, for hundreds of idle desks.
    let ws = ws.max_message_size(64 * 1024).read_buffer_size(4096);
    Ok(ws.on_upgrade(move |socket| async move {
        // While a desk is open the engine holds each offer's ring for its screen-pop.
        let _desk = acks_pops.then(|| DeskOpen::new(&backend.engine, key.user));
        conn::run(Socket(socket), hub, backend, key, sub, first, Timing::default()).await
    }))
}

/// An operator's open desk feed that acknowledges screen-pops, told to the engine; dropping it (however the connection
/// ends) tells the engine the desk is gone.
struct DeskOpen {
    engine: kontakt_engine::EngineHandle,
    user: kontakt_store::Id,
}

impl DeskOpen {
    fn new(engine: &kontakt_engine::EngineHandle, user: kontakt_store::Id) -> Self {
        engine.desk_presence(user, true);
        DeskOpen { engine: engine.clone(), user }
    }
}

impl Drop for DeskOpen {
    fn drop(&mut self) {
        self.engine.desk_presence(self.user, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_name_the_host() {
        let h = |origin: Option<&str>, host: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, host.parse().unwrap_or_else(|_| unreachable!()));
            if let Some(o) = origin {
                m.insert(header::ORIGIN, o.parse().unwrap_or_else(|_| unreachable!()));
            }
            same_origin(&m)
        };
        assert!(h(Some("https://hotline.example.gov.ua"), "hotline.example.gov.ua"));
        assert!(h(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"));
        assert!(h(Some("https://Hotline.Example.gov.ua"), "hotline.example.gov.ua"));
        assert!(!h(Some("https://evil.example"), "hotline.example.gov.ua"));
        assert!(!h(Some("https://hotline.example.gov.ua.evil.example"), "hotline.example.gov.ua"));
        assert!(!h(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"));
        assert!(!h(Some("null"), "127.0.0.1:8080"));
        assert!(!h(None, "127.0.0.1:8080"));
    }

    #[test]
    fn resume_points_parse() {
        assert_eq!(parse_resume("abc:12").ok(), Some(("abc".to_string(), 12)));
        for bad in ["abc", ":12", "abc:", "abc:-1", "abc:x", "abc:1:2"] {
            assert!(parse_resume(bad).is_err(), "{bad}");
        }
    }
}
