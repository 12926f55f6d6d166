//! axum REST API with OpenAPI, sessions and roles.
//!
//! `app(state)` builds the whole router, so tests drive it in-process without a socket.
//! Handlers are thin: they check access, call the domain (`kontakt-appeals`) for every rule
//! and the `Store` for every read and write, and map results to JSON. API types (`dto`) are the
//! serialisable counterparts of domain records: the domain crates know nothing of HTTP.

pub mod access;
pub mod auth;
pub mod dto;
pub mod error;
mod extract;
mod openapi;
pub mod registration;
mod routes;
pub mod seed;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use kontakt_store::Store;

pub use openapi::openapi_json;
pub use routes::users::validate_new_user;

/// What every handler may reach. Cloned per request: only `Arc`s and small values inside.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<WebSettings>,
    /// The running call center; `None` when Kontakt runs without telephony (the registry
    /// alone), and the desk's call endpoints then answer 503.
    pub engine: Option<kontakt_engine::EngineHandle>,
}

#[derive(Debug, Clone)]
pub struct WebSettings {
    pub session_hours: u32,
    pub cookie_secure: bool,
    pub max_body_bytes: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings { session_hours: 12, cookie_secure: false, max_body_bytes: 256 * 1024 }
    }
}

pub fn app(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    routes::router()
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
