//! The pages over HTTP, in-process: redirects without a session, the security headers, the
//! assets and their revalidation, escaping of what users typed, the language switch. The
//! real-browser tests are in `tests/browser.rs`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kontakt_store::{NewUser, Role};
use tower::ServiceExt;

use crate::{AppState, WebSettings, app};

const PASSWORD: &str = "correct horse battery";

pub(crate) struct Env {
    pub(crate) app: axum::Router,
    pub(crate) store: std::sync::Arc<dyn kontakt_store::Store>,
    _dir: tempfile::TempDir,
}

/// A registry without telephony, with the category tree, the operator olena (whose display
/// name tries markup) and the executor petro.
pub(crate) async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store =
        kontakt_store::open(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
    store.migrate().await.unwrap();
    crate::seed::reference(store.as_ref()).await.unwrap();
    let hash = crate::auth::hash_password(PASSWORD).unwrap();
    for (name, display, role) in [
        ("olena", "<script>alert('name')</script> Олена", Role::Operator),
        ("petro", "Петро", Role::Executor),
    ] {
        store
            .create_user(
                NewUser {
                    username: name.into(),
                    display_name: display.into(),
                    role,
                    password_hash: hash.clone(),
                    executor_id: None,
                    must_change_password: false,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
    let state =
        AppState { store: store.clone(), settings: Arc::new(WebSettings::default()), engine: None };
    Env { app: app(state), store, _dir: dir }
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

pub(crate) async fn get(env: &Env, path: &str, cookie: Option<&str>, etag: Option<&str>) -> Reply {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    let r = env.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// Logs in through the API; the session cookie and the CSRF token.
pub(crate) async fn login(env: &Env, username: &str) -> (String, String) {
    let body = serde_json::json!({"username": username, "password": PASSWORD}).to_string();
    let req = Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let r = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (cookie, v["csrf_token"].as_str().unwrap().to_string())
}

fn header(r: &Reply, name: header::HeaderName) -> &str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn pages_need_a_session_and_carry_a_strict_policy() {
    let env = env().await;
    let r = get(&env, "/desk", None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, header::LOCATION), "/login?next=/desk");
    let r = get(&env, "/", None, None).await;
    assert_eq!(header(&r, header::LOCATION), "/login?next=/");

    let r = get(&env, "/login", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = header(&r, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(r.body.contains("<html lang=\"uk\">") && r.body.contains("Увійти"), "{}", r.body);
    // No inline script: every <script> either loads a file or is a JSON data block.
    for part in r.body.split("<script").skip(1) {
        let tag = part.split('>').next().unwrap();
        assert!(tag.contains("src=\"/assets/") || tag.contains("application/json"), "{tag}");
    }
    assert!(r.body.contains("<label for=\"username\">"));
}

#[tokio::test]
async fn the_desk_escapes_what_people_typed_and_switches_language() {
    let env = env().await;
    let (cookie, csrf) = login(&env, "olena").await;
    let r = get(&env, "/desk", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(header(&r, header::CACHE_CONTROL), "no-store");
    assert!(!r.body.contains("<script>alert"), "the display name reached the page as markup");
    assert!(r.body.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; Олена"));
    assert!(r.body.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")));
    assert!(r.body.contains("id=\"category-search\"") && r.body.contains("<kbd>F2</kbd>"));
    assert!(r.body.contains("Готовий"));
    // The JSON block of strings for the scripts.
    assert!(r.body.contains("\"desk.ready\":\"Готовий\""));

    let r = get(&env, "/desk?lang=en", Some(&cookie), None).await;
    assert!(r.body.contains("<html lang=\"en\">") && r.body.contains("Ready"));
    assert!(header(&r, header::SET_COOKIE).starts_with("kontakt_lang=en;"));
    let both = format!("{cookie}; kontakt_lang=en");
    let r = get(&env, "/desk", Some(&both), None).await;
    assert!(r.body.contains("<html lang=\"en\">"));

    // The start page by role; a role without a desk gets 403 on it.
    let r = get(&env, "/", Some(&cookie), None).await;
    assert_eq!(header(&r, header::LOCATION), "/desk");
    let (exec, _) = login(&env, "petro").await;
    let r = get(&env, "/desk", Some(&exec), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn assets_are_served_with_types_and_revalidated() {
    let env = env().await;
    for (path, kind) in [
        ("/assets/kontakt.css", "text/css"),
        ("/assets/feed.js", "text/javascript"),
        ("/assets/api.js", "text/javascript"),
        ("/assets/desk.js", "text/javascript"),
        ("/assets/login.js", "text/javascript"),
    ] {
        let r = get(&env, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(header(&r, header::CONTENT_TYPE).starts_with(kind), "{path}");
        let etag = header(&r, header::ETAG).to_string();
        assert!(etag.starts_with('"'), "{path}");
        let again = get(&env, path, None, Some(&etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
    }
    let r = get(&env, "/assets/nothing.js", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
