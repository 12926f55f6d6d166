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
mod feed;
mod openapi;
mod pages;
pub mod registration;
mod routes;
pub mod seed;
mod telephony;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
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

/// The router's own state: what handlers see (`AppState`) plus the feed hub, which only the
/// web layer knows about. Handlers that need only `AppState` take `State<AppState>`.
#[derive(Clone)]
pub(crate) struct WebState {
    pub(crate) app: AppState,
    /// Relays the engine's feeds to WebSockets; `None` without telephony.
    pub(crate) hub: Option<feed::Hub>,
}

impl FromRef<WebState> for AppState {
    fn from_ref(web: &WebState) -> AppState {
        web.app.clone()
    }
}

/// The whole HTTP application. With an engine, this also starts the feed hub (a task that
/// relays the engine's broadcasts to WebSockets), so call it inside a tokio runtime.
pub fn app(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    let hub = state.engine.as_ref().and_then(feed::Hub::for_engine);
    routes::router()
        // The pages (`/login`, `/desk`, …) and their scripts and styles.
        .merge(pages::router())
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(WebState { app: state, hub })
}

/// The listener to serve [`app`] on: every accepted connection gets `TCP_NODELAY`. Feed
/// messages are small writes in quick succession (a screen-pop, then the agent's state);
/// with Nagle's algorithm the second waits for the client's delayed ACK of the first — up
/// to 40 ms on Linux, twice the screen-pop budget.
pub fn listener(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
        }
    })
}
