//! The pages' words: Ukrainian first, English second. A page's strings are a [`Table`] of
//! `(key, uk, en)`; the layout writes the tables a page uses into the page as JSON, so the ES
//! modules translate with the same keys (`t('desk.ready')` in `assets/i18n.js`).
//!
//! The language is `?lang=uk|en` (which also sets the `kontakt_lang` cookie), else that
//! cookie, else Ukrainian.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// `(key, Ukrainian, English)`. `{name}` in a string is filled in by `t(key, {name: …})` in
/// JS; the Rust side only uses strings without placeholders.
pub(crate) type Table = &'static [(&'static str, &'static str, &'static str)];

pub(crate) const LANG_COOKIE: &str = "kontakt_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    #[default]
    Uk,
    En,
}

impl Lang {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Uk => "uk",
            Lang::En => "en",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Lang> {
        match s {
            "uk" => Some(Lang::Uk),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From the cookie; Ukrainian when there is none (or it says something else).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Lang {
        crate::auth::cookie(headers, LANG_COOKIE).and_then(Lang::parse).unwrap_or_default()
    }

    /// The other language: what the switch in the header offers.
    pub(crate) fn other(self) -> Lang {
        match self {
            Lang::Uk => Lang::En,
            Lang::En => Lang::Uk,
        }
    }
}

/// The string for `key` in the first of `tables` (then [`COMMON`]) that has it; a marker when
/// none does (a missing key shows on the page instead of failing, and the tests look for it).
pub(crate) fn t(lang: Lang, tables: &[Table], key: &str) -> &'static str {
    for table in tables.iter().chain([&COMMON]) {
        if let Some((_, uk, en)) = table.iter().find(|(k, _, _)| *k == key) {
            return match lang {
                Lang::Uk => uk,
                Lang::En => en,
            };
        }
    }
    "⟨?⟩"
}

/// Every string of these tables and [`COMMON`] in one language, for the page's JSON block.
pub(crate) fn json(lang: Lang, tables: &[Table]) -> Value {
    let mut map = Map::new();
    for table in tables.iter().chain([&COMMON]) {
        for (k, uk, en) in table.iter() {
            let s = match lang {
                Lang::Uk => uk,
                Lang::En => en,
            };
            map.entry((*k).to_string()).or_insert_with(|| Value::String((*s).to_string()));
        }
    }
    Value::Object(map)
}

/// What a table must satisfy: unique keys, both languages present, the same `{placeholders}`
/// in both. Page modules call it from their tests.
#[cfg(test)]
pub(crate) fn check(table: Table) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (k, uk, en) in table.iter() {
        if !seen.insert(*k) {
            return Err(format!("duplicate key {k}"));
        }
        if uk.trim().is_empty() || en.trim().is_empty() {
            return Err(format!("{k}: empty string"));
        }
        if placeholders(uk) != placeholders(en) {
            return Err(format!("{k}: placeholders differ between uk and en"));
        }
    }
    Ok(())
}

#[cfg(test)]
fn placeholders(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = s
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect();
    out.sort_unstable();
    out
}

/// Keys a JS source uses as `t('key'` or `t("key"` (for the tests that check every key the
/// scripts ask for exists).
#[cfg(test)]
pub(crate) fn keys_used_in_js(src: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for quote in ['\'', '"'] {
        let pat = format!("t({quote}");
        let mut rest = src;
        while let Some(i) = rest.find(&pat) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + pat.len()..];
            // `t(` only as a whole identifier (not `split(` or `parseInt(`).
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(end) = rest.find(quote) {
                keys.push(rest[..end].to_string());
            }
        }
    }
    keys
}

/// What every page shows: the header, the login page, errors, the feed's status.
pub(crate) const COMMON: Table = &[
    ("app.name", "Контакт", "Kontakt"),
    ("app.tagline", "Гаряча лінія міста", "City hotline"),
    ("nav.skip", "Перейти до змісту", "Skip to content"),
    ("nav.desk", "Робоче місце", "Desk"),
    ("nav.wallboard", "Табло", "Wallboard"),
    ("nav.logout", "Вийти", "Log out"),
    ("nav.lang_switch", "English", "Українська"),
    ("nav.lang_switch_label", "Мова інтерфейсу", "Interface language"),
    ("nav.user", "Користувач", "User"),
    ("login.title", "Вхід", "Log in"),
    ("login.username", "Ім'я користувача", "Username"),
    ("login.password", "Пароль", "Password"),
    ("login.submit", "Увійти", "Log in"),
    ("login.bad_credentials", "Неправильне ім'я або пароль", "Wrong username or password"),
    ("login.change_title", "Змініть одноразовий пароль", "Change the one-time password"),
    (
        "login.new_password",
        "Новий пароль (щонайменше 10 символів)",
        "New password (at least 10 characters)",
    ),
    ("login.new_password_again", "Новий пароль ще раз", "The new password again"),
    ("login.change_submit", "Змінити пароль і увійти", "Change the password and log in"),
    ("login.mismatch", "Паролі не збігаються", "The passwords do not match"),
    (
        "login.no_page",
        "Для вашої ролі тут поки немає сторінки.",
        "There is no page for your role here yet.",
    ),
    (
        "error.forbidden",
        "Ця сторінка недоступна для вашої ролі.",
        "Your role may not open this page.",
    ),
    ("error.network", "Немає зв'язку з сервером", "No connection to the server"),
    ("error.generic", "Помилка: {message}", "Error: {message}"),
    ("feed.live", "На зв'язку", "Live"),
    ("feed.connecting", "З'єднання…", "Connecting…"),
    (
        "feed.offline",
        "Зв'язок втрачено, повторна спроба за {secs} с",
        "Connection lost, retrying in {secs} s",
    ),
    ("feed.unavailable", "Телефонія недоступна", "Telephony unavailable"),
    ("time.sec", "с", "s"),
    ("time.min", "хв", "min"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_table_is_consistent() {
        check(COMMON).unwrap();
        assert_eq!(t(Lang::En, &[COMMON], "nav.logout"), "Log out");
        assert_eq!(t(Lang::Uk, &[COMMON], "nav.logout"), "Вийти");
        assert_eq!(t(Lang::Uk, &[COMMON], "no.such.key"), "⟨?⟩");
    }

    #[test]
    fn a_bad_table_is_caught() {
        assert!(check(&[("a", "x", "y"), ("a", "x", "y")]).is_err());
        assert!(check(&[("a", "{n} x", "{m} y")]).is_err());
        assert!(check(&[("a", "", "y")]).is_err());
        assert!(check(&[("a", "{n} x", "y {n}")]).is_ok());
    }

    #[test]
    fn js_keys_are_found() {
        let src = "x.split('a'); t('desk.ready'); el.textContent = t(\"feed.live\", {a: 1});";
        assert_eq!(keys_used_in_js(src), vec!["desk.ready".to_string(), "feed.live".into()]);
    }

    #[test]
    fn language_comes_from_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Uk);
        h.insert(axum::http::header::COOKIE, "kontakt_lang=en".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(axum::http::header::COOKIE, "kontakt_lang=xx".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Uk);
    }
}
