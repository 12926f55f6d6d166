//! `/login`: the form posts to `POST /api/v1/auth/login` from `assets/login.js`. The session
//! cookie it gets back is HttpOnly; the CSRF token from the response is kept in
//! `sessionStorage` for `api.js`. A one-time password is changed here before going on.

use axum::Router;
use axum::routing::get;

use super::html::esc;
use super::i18n::t;
use super::layout::{Page, render};
use super::{Kind, PageLang, asset};
use crate::WebState;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/login", get(page))
        .route("/assets/login.js", asset(include_str!("../../assets/login.js"), Kind::Js))
}

async fn page(lang: PageLang) -> axum::response::Response {
    let l = lang.lang;
    let tr = |k: &str| esc(t(l, &[], k));
    let body = format!(
        r#"<section class="tile narrow login" aria-labelledby="login-title">
<h1 id="login-title">{title}</h1>
<p class="notice" id="login-none" hidden>{none}</p>
<form id="login-form" novalidate>
<label for="username">{username}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button class="btn primary" type="submit">{submit}</button>
</form>
<form id="change-form" hidden novalidate>
<h2>{change_title}</h2>
<label for="new-password">{new_password}</label>
<input id="new-password" type="password" autocomplete="new-password" minlength="10" required>
<label for="new-password2">{new_password2}</label>
<input id="new-password2" type="password" autocomplete="new-password" minlength="10" required>
<button class="btn primary" type="submit">{change_submit}</button>
</form>
<p class="error" id="login-error" role="alert" aria-live="assertive"></p>
</section>"#,
        title = tr("login.title"),
        none = tr("login.no_page"),
        username = tr("login.username"),
        password = tr("login.password"),
        submit = tr("login.submit"),
        change_title = tr("login.change_title"),
        new_password = tr("login.new_password"),
        new_password2 = tr("login.new_password_again"),
        change_submit = tr("login.change_submit"),
    );
    let page = Page {
        id: "login",
        title_key: "login.title",
        tables: &[],
        styles: &[],
        scripts: &["/assets/login.js"],
        body,
    };
    render(&page, lang, None)
}
