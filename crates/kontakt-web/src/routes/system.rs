//! `/health` and `/metrics`: outside `/api/v1` and unauthenticated, because they are read by
//! machines on the private network (the load balancer, Prometheus) that hold no account.
//! Neither shows personal data. In production nginx sits in front and serves both to the
//! monitoring host only (deploy/nginx/kontakt.conf, `location = /health` and
//! `location = /metrics`); Kontakt itself listens on 127.0.0.1.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::WebState;
use crate::dto::Health;

#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "the database answers, and telephony runs with FreeSWITCH connected (or is not configured: `telephony` is `disabled`)", body = Health),
        (status = 503, description = "the database is unreachable, the engine stopped, or FreeSWITCH's event socket is down; `reason` says which", body = Health)))]
pub(crate) async fn health(State(web): State<WebState>) -> impl IntoResponse {
    let database = match web.app.store.count_users().await {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            Some("the database is unreachable")
        }
    };
    let telephony = match &web.app.engine {
        None => Ok("disabled"),
        Some(e) if !e.is_alive() => {
            Err(("engine_stopped", "the call-center engine is not running"))
        }
        // Updated by the engine every 0.8 s.
        Some(e) if !e.metrics().esl_connected.load(Ordering::Relaxed) => {
            Err(("esl_disconnected", "FreeSWITCH's event socket is not connected"))
        }
        Some(_) => Ok("ok"),
    };
    let reasons: Vec<&str> = database.into_iter().chain(telephony.err().map(|t| t.1)).collect();
    let status = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health {
        status: if reasons.is_empty() { "ok" } else { "unhealthy" }.into(),
        database: if database.is_some() { "unreachable" } else { "ok" }.into(),
        telephony: match telephony {
            Ok(t) => t,
            Err((t, _)) => t,
        }
        .into(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    };
    (status, Json(body))
}

#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition: the engine's metrics (with telephony), the feed's, and `kontakt_up 1`", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(web): State<WebState>) -> impl IntoResponse {
    let mut body = String::new();
    if let Some(engine) = &web.app.engine {
        body.push_str(&engine.metrics().render());
    }
    if let Some(hub) = &web.hub {
        hub.stats.render(&mut body);
    }
    body.push_str(
        "# HELP kontakt_up 1 while Kontakt answers.\n# TYPE kontakt_up gauge\nkontakt_up 1\n",
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
