//! The document every page shares: head with the page's styles and modules, the header (the
//! navigation the role may use, the user, the language switch, logout), `<main>` with the
//! page's body, and the page's strings as JSON for the scripts.

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::html::{esc, json_block};
use super::i18n::{self, Table, t};
use super::{PageLang, PageSession, secure};
use crate::access::Permission;

/// One page. `body` is HTML the page module wrote, every value in it escaped.
pub(crate) struct Page<'a> {
    /// `<body data-page="…">`, for the page's styles and its tests.
    pub(crate) id: &'a str,
    pub(crate) title_key: &'a str,
    /// The page's strings besides `i18n::COMMON` (used for the title and given to the
    /// scripts).
    pub(crate) tables: &'a [Table],
    /// Stylesheets besides `/assets/kontakt.css`.
    pub(crate) styles: &'a [&'a str],
    /// ES modules besides `/assets/common.js`.
    pub(crate) scripts: &'a [&'a str],
    pub(crate) body: String,
}

/// The whole document as a response: 200, HTML, the security headers, `no-store` (pages show
/// personal data), and the language cookie when `?lang=` chose one.
pub(crate) fn render(page: &Page<'_>, lang: PageLang, session: Option<&PageSession>) -> Response {
    let l = lang.lang;
    let tr = |key: &str| esc(t(l, page.tables, key));
    let mut h = String::with_capacity(8192 + page.body.len());
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/assets/kontakt.css\">",
        l.code(),
        tr(page.title_key),
        tr("app.name"),
    );
    for s in page.styles {
        let _ = write!(h, "<link rel=\"stylesheet\" href=\"{}\">", esc(s));
    }
    if let Some(s) = session {
        let _ = write!(h, "<meta name=\"csrf-token\" content=\"{}\">", esc(&s.csrf));
    }
    h.push_str("<script type=\"module\" src=\"/assets/common.js\"></script>");
    for s in page.scripts {
        let _ = write!(h, "<script type=\"module\" src=\"{}\"></script>", esc(s));
    }
    let _ = write!(
        h,
        "</head><body data-page=\"{}\"><a class=\"skip\" href=\"#main\">{}</a>\
         <header class=\"top\"><span class=\"brand\">{}<small>{}</small></span>",
        esc(page.id),
        tr("nav.skip"),
        tr("app.name"),
        tr("app.tagline"),
    );
    if let Some(s) = session {
        h.push_str("<nav aria-label=\"");
        h.push_str(&tr("app.name"));
        h.push_str("\"><ul>");
        let links = [
            (Permission::Desk, "/desk", "nav.desk", "desk"),
            (Permission::Supervise, "/wallboard", "nav.wallboard", "wallboard"),
        ];
        for (perm, href, key, id) in links {
            if s.allows(perm) {
                let current = if page.id == id { " aria-current=\"page\"" } else { "" };
                let _ = write!(h, "<li><a href=\"{href}\"{current}>{}</a></li>", tr(key));
            }
        }
        h.push_str("</ul></nav>");
    }
    h.push_str("<div class=\"who\">");
    if let Some(s) = session {
        let name = if s.user.display_name.trim().is_empty() {
            &s.user.username
        } else {
            &s.user.display_name
        };
        let _ = write!(
            h,
            "<span class=\"user\" title=\"{}\" data-user-id=\"{}\">{}</span>",
            esc(&s.user.username),
            s.user.id,
            esc(name)
        );
    }
    let other = l.other();
    let _ = write!(
        h,
        "<a class=\"lang\" href=\"?lang={}\" lang=\"{}\" hreflang=\"{}\" aria-label=\"{}\">{}</a>",
        other.code(),
        other.code(),
        other.code(),
        tr("nav.lang_switch_label"),
        tr("nav.lang_switch"),
    );
    if session.is_some() {
        let _ = write!(
            h,
            "<button type=\"button\" class=\"btn ghost\" id=\"logout\">{}</button>",
            tr("nav.logout")
        );
    }
    h.push_str("</div></header><main id=\"main\" tabindex=\"-1\">");
    h.push_str(&page.body);
    h.push_str("</main><script type=\"application/json\" id=\"kontakt-i18n\">");
    h.push_str(&json_block(&i18n::json(l, page.tables)));
    h.push_str("</script></body></html>\n");

    let mut headers = HeaderMap::new();
    secure(&mut headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = lang.cookie() {
        headers.insert(header::SET_COOKIE, c);
    }
    (headers, h).into_response()
}
