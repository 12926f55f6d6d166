//! The pages people work in, served by the binary itself: server-rendered HTML, and small ES
//! modules and CSS embedded at build time (`include_str!` of `crates/kontakt-web/assets/`).
//! There is no Node.js build step and nothing is fetched from anywhere else at run time.
//!
//! # What a page module uses (kept stable)
//!
//! - **Routes.** A page module has `pub(crate) fn routes() -> Router<WebState>` with its page
//!   and its assets; [`router`] merges it (one `mod` line and one `.merge` line each).
//! - **[`PageSession`]** (extractor): the logged-in person, their session's CSRF token and the
//!   language. Without a session the request is redirected to `/login?next=<path>`; with a
//!   one-time password still in use, to `/login?change=1`. Check the role yourself with
//!   `session.allows(Permission::…)` and answer [`forbidden`] when it fails.
//! - **[`layout::Page`]** and [`layout::render`]: the shared document (header with the
//!   navigation, the user, the language switch and logout; `<main id="main">` with the page's
//!   body) with the security headers below. The body is HTML the page module wrote itself:
//!   every value in it goes through [`html::esc`]. Pass the page's string tables: they are
//!   written into the page as JSON for the scripts.
//! - **[`i18n`]**: `Table` = `&[(key, uk, en)]`, `t(lang, tables, key)`, `check(table)` for
//!   tests. The common table is `i18n::COMMON`.
//! - **[`asset`]**`(body, kind)`: a `GET` route serving an embedded file with an ETag.
//! - **Scripts** (`/assets/…`, ES modules; import them relatively, e.g. `./feed.js`):
//!   - `i18n.js`: `t(key, vars)`, `lang`;
//!   - `dom.js`: `el(tag, attrs, ...children)` (children are text nodes, never HTML),
//!     `clear(node)`, `duration(ms)`, `clock(iso)`, `dateTime(iso)`;
//!   - `api.js`: `api(method, path, body)` → parsed JSON (throws `ApiError` with `status`,
//!     `code`, `fields`); it sends `X-CSRF-Token` (from the login response, kept in
//!     `sessionStorage`, or the page's `<meta name="csrf-token">`) with every write, and
//!     sends the browser to the login page on a 401;
//!   - `feed.js`: `new FeedClient({view, onSnapshot, onMessage, onStatus}).start()`: the
//!     WebSocket of docs/websocket.md, reconnecting with backoff and `resume`, dropping any
//!     message whose `seq` it has already applied, so nothing is shown twice;
//!   - `common.js` (loaded by the layout on every page): the logout button.
//!   - `kontakt.css`: the shared look (colours with WCAG AA contrast, focus rings, `.tile`,
//!     `.badge`, `.btn`, forms).
//!
//! # Security
//!
//! Every page and asset carries a strict Content-Security-Policy (`script-src 'self'`, no
//! inline script or style, `connect-src 'self'` for the API and the feed, no framing), `nosniff`
//! and `no-referrer`. The session cookie is HttpOnly; writes need the CSRF header. Content from
//! citizens is escaped in Rust ([`html::esc`]) and set with `textContent` in the scripts.

pub(crate) mod desk;
pub(crate) mod html;
pub(crate) mod i18n;
pub(crate) mod layout;
mod login;
#[cfg(test)]
pub(crate) mod tests_http;
pub(crate) mod wallboard;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use kontakt_store::{Role, User};

use crate::access::{Permission, allows};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::{AppState, WebState};
pub(crate) use i18n::Lang;

/// Every page, its scripts and styles.
pub(crate) fn router() -> Router<WebState> {
    Router::new()
        .route("/", get(home))
        .merge(login::routes())
        .merge(desk::routes())
        .merge(wallboard::routes())
        .route("/assets/kontakt.css", asset(include_str!("../../assets/kontakt.css"), Kind::Css))
        .route("/assets/common.js", asset(include_str!("../../assets/common.js"), Kind::Js))
        .route("/assets/i18n.js", asset(include_str!("../../assets/i18n.js"), Kind::Js))
        .route("/assets/dom.js", asset(include_str!("../../assets/dom.js"), Kind::Js))
        .route("/assets/api.js", asset(include_str!("../../assets/api.js"), Kind::Js))
        .route("/assets/feed.js", asset(include_str!("../../assets/feed.js"), Kind::Js))
}

/// The policy of every page: scripts and styles only from this server, no inline code, API
/// and feed calls only to this origin, never framed.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers every page and asset carries.
pub(crate) fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Js,
    Css,
}

impl Kind {
    fn content_type(self) -> &'static str {
        match self {
            Kind::Js => "text/javascript; charset=utf-8",
            Kind::Css => "text/css; charset=utf-8",
        }
    }
}

/// A `GET` route for an embedded file. Browsers revalidate it on each load (`no-cache`) and
/// get 304 while its ETag (a hash of the content) matches, so a new build is picked up at once.
pub(crate) fn asset(body: &'static str, kind: Kind) -> MethodRouter<WebState> {
    get(move |headers: HeaderMap| async move {
        let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
        let mut out = HeaderMap::new();
        secure(&mut out);
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            out.insert(header::ETAG, v);
        }
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        if matches {
            return (StatusCode::NOT_MODIFIED, out).into_response();
        }
        out.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
        (out, body).into_response()
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The page's language: `?lang=` (remembered in a cookie) or the cookie, else Ukrainian.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLang {
    pub(crate) lang: Lang,
    /// Set when `?lang=` chose it: the response sets the cookie.
    pub(crate) chosen: bool,
}

impl PageLang {
    pub(crate) fn of(parts: &Parts) -> PageLang {
        let asked = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v));
        match asked {
            Some(lang) => PageLang { lang, chosen: true },
            None => PageLang { lang: Lang::from_headers(&parts.headers), chosen: false },
        }
    }

    /// The cookie that remembers a chosen language, for a year.
    pub(crate) fn cookie(&self) -> Option<HeaderValue> {
        self.chosen
            .then(|| {
                HeaderValue::from_str(&format!(
                    "{}={}; Path=/; SameSite=Strict; Max-Age=31536000",
                    i18n::LANG_COOKIE,
                    self.lang.code()
                ))
                .ok()
            })
            .flatten()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang::of(parts))
    }
}

/// A logged-in person opening a page.
pub(crate) struct PageSession {
    pub(crate) user: User,
    /// The session's CSRF token, written into the page for tabs opened without the login
    /// response (a reload, a second tab).
    pub(crate) csrf: String,
    pub(crate) lang: PageLang,
}

impl PageSession {
    pub(crate) fn allows(&self, permission: Permission) -> bool {
        allows(self.user.role, permission)
    }
}

/// Where a page sends a browser to log in and come back: only local paths.
fn login_redirect(parts: &Parts) -> Response {
    let next = parts.uri.path();
    Redirect::to(&format!("/login?next={}", url_component(next))).into_response()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub(crate) fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl<S> FromRequestParts<S> for PageSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let lang = PageLang::of(parts);
        let caller = match Caller::from_request_parts(parts, state).await {
            Ok(c) => c,
            Err(e) if e.code == "password_change_required" => {
                return Err(Redirect::to("/login?change=1").into_response());
            }
            Err(e) if e.status == StatusCode::UNAUTHORIZED => return Err(login_redirect(parts)),
            Err(e) => return Err(e.into_response()),
        };
        // Pages are for people: a bearer token opens none of them.
        let Some(hash) = caller.session_hash.as_deref() else {
            return Err(login_redirect(parts));
        };
        let app = AppState::from_ref(state);
        let session = app
            .store
            .session(hash, chrono::Utc::now())
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .ok_or_else(|| login_redirect(parts))?;
        Ok(PageSession { user: caller.user, csrf: session.csrf_token, lang })
    }
}

/// The page a role starts on.
pub(crate) fn home_of(role: Role) -> &'static str {
    match role {
        Role::Operator => "/desk",
        Role::Supervisor | Role::Admin => "/wallboard",
        _ => "/login?none=1",
    }
}

async fn home(session: Result<PageSession, Response>) -> Response {
    match session {
        Ok(s) => Redirect::to(home_of(s.user.role)).into_response(),
        Err(r) => r,
    }
}

/// The page for a role that may not open this one (403).
pub(crate) fn forbidden(session: &PageSession) -> Response {
    let body = format!(
        "<section class=\"tile narrow\"><h1>{}</h1><p><a href=\"{}\">{}</a></p></section>",
        html::esc(i18n::t(session.lang.lang, &[], "error.forbidden")),
        html::esc(home_of(session.user.role)),
        html::esc(i18n::t(session.lang.lang, &[], "app.name")),
    );
    let page = layout::Page {
        id: "forbidden",
        title_key: "error.forbidden",
        tables: &[],
        styles: &[],
        scripts: &[],
        body,
    };
    let mut r = layout::render(&page, session.lang, Some(session));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded_and_hashes_differ() {
        assert_eq!(url_component("/desk"), "/desk");
        assert_eq!(url_component("/a b?c=<d>"), "/a%20b%3Fc%3D%3Cd%3E");
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
