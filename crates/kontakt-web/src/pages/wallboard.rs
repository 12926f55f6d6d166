//! `/wallboard`: the supervisors' board, on their desk at 1366×768 and on the big screen (the
//! large-type mode, `?tv=1`). The server renders the frame and the configuration the scripts
//! need (queues and their service-level convention, pause reasons, thresholds);
//! `assets/wallboard.js` fills it from the feed (`view=wallboard`: a snapshot to start from,
//! then agent and call changes and the statistics every 0.8 s), draws the intraday chart from `GET /api/v1/wallboard/intraday`,
//! and acts through the wall board API (`/api/v1/wallboard/…`, every action audited).
//!
//! **Never silently stale.** The feed sends the statistics every 0.8 s. When nothing has arrived
//! for [`STALE_AFTER_MS`], or the socket is down, the page says so in a banner with the time of
//! its last update and greys the figures; a socket silent for [`RECONNECT_AFTER_MS`] is
//! replaced.
//!
//! **Thresholds** turn a figure amber, then red. The defaults are [`THRESHOLDS`]; each one can
//! be changed per screen in the page's address (`?waiting=2,5&service_level=90,75`), so a
//! TV's bookmark carries its own. docs/wallboard.md lists them.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use kontakt_acd::{QueueConfig, SlConvention};
use serde_json::{Value, json};

use super::html::{esc, json_block};
use super::i18n::{Table, t};
use super::layout::{Page, render};
use super::{Kind, PageSession, asset, forbidden};
use crate::access::Permission;
use crate::{AppState, WebState};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/wallboard", get(page))
        .route("/assets/wallboard.js", asset(include_str!("../../assets/wallboard.js"), Kind::Js))
        .route(
            "/assets/wallboard.css",
            asset(include_str!("../../assets/wallboard.css"), Kind::Css),
        )
}

/// The feed sends the statistics every 0.8 s; this long without any message and the page says
/// its figures are stale: what it shows is never older than this without a warning.
pub(crate) const STALE_AFTER_MS: u64 = 1_500;

/// A socket silent this long (three snapshots missed) is closed and the feed resumed on a new
/// one. Longer than [`STALE_AFTER_MS`], so one late snapshot on a busy server shows the banner
/// for a moment but does not make every screen reconnect.
pub(crate) const RECONNECT_AFTER_MS: u64 = 3_000;

/// Which way a figure gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Worse {
    Higher,
    Lower,
}

/// One threshold: the figure, its unit, amber from, red from.
pub(crate) struct Threshold {
    /// The URL parameter and the key of its label (`wb.th.<key>`).
    pub(crate) key: &'static str,
    /// `calls`, `s` or `%`.
    pub(crate) unit: &'static str,
    pub(crate) amber: f64,
    pub(crate) red: f64,
    pub(crate) worse: Worse,
}

const fn th(key: &'static str, unit: &'static str, amber: f64, red: f64) -> Threshold {
    Threshold { key, unit, amber, red, worse: Worse::Higher }
}

/// The defaults. Queue figures: calls waiting, the longest current wait (amber at the default
/// service-level threshold of 20 s), service level, average speed of answer, average handle
/// time, abandon rate, callbacks waiting. Operator figures: time in pause, in wrap-up and in
/// one conversation.
pub(crate) const THRESHOLDS: &[Threshold] = &[
    th("waiting", "calls", 3.0, 8.0),
    th("longest_wait", "s", 20.0, 60.0),
    Threshold { key: "service_level", unit: "%", amber: 80.0, red: 60.0, worse: Worse::Lower },
    th("asa", "s", 20.0, 40.0),
    th("aht", "s", 300.0, 480.0),
    th("abandon_rate", "%", 5.0, 10.0),
    th("callbacks", "calls", 5.0, 15.0),
    th("paused", "s", 900.0, 1800.0),
    th("wrap_up", "s", 120.0, 300.0),
    th("talking", "s", 600.0, 1200.0),
];

/// The key of the string that explains a service-level convention (`{t}`: the threshold in
/// seconds, `{short}`: the short-abandon limit).
fn convention_key(c: SlConvention) -> &'static str {
    match c {
        SlConvention::AnsweredAndAbandoned => "wb.sl.answered_and_abandoned",
        SlConvention::AnsweredOnly => "wb.sl.answered_only",
        SlConvention::AbandonedWithinTIsGood => "wb.sl.abandoned_within_t_is_good",
    }
}

/// What the script needs besides the feed: written into the page as JSON.
fn config(state: &AppState, user_id: i64, username: &str) -> Value {
    let thresholds: serde_json::Map<String, Value> = THRESHOLDS
        .iter()
        .map(|t| {
            let worse = match t.worse {
                Worse::Higher => "higher",
                Worse::Lower => "lower",
            };
            (
                t.key.to_string(),
                json!({"amber": t.amber, "red": t.red, "unit": t.unit, "worse": worse}),
            )
        })
        .collect();
    // The engine builds every queue from `QueueConfig::default()` with its own threshold, so
    // the convention and the short-abandon limit are those defaults.
    let acd = QueueConfig::default();
    let Some(engine) = state.engine.as_ref() else {
        return json!({
            "telephony": false,
            "user_id": user_id,
            "queues": [],
            "pause_reasons": [],
            "has_phone": false,
            "thresholds": thresholds,
            "stale_after_ms": STALE_AFTER_MS,
            "reconnect_after_ms": RECONNECT_AFTER_MS,
        });
    };
    let cfg = engine.config();
    let queues: Vec<Value> = cfg
        .queues
        .iter()
        .map(|q| {
            json!({
                "name": q.name,
                "sl_threshold_secs": q.sl_threshold_secs,
                "convention": convention_key(acd.sl_convention),
                "short_abandon_secs": acd.short_abandon_ms / 1000,
            })
        })
        .collect();
    json!({
        "telephony": true,
        "user_id": user_id,
        "queues": queues,
        "pause_reasons": cfg.pause_reasons,
        "has_phone": cfg.supervisors.iter().any(|s| s.username == username),
        "thresholds": thresholds,
        "stale_after_ms": STALE_AFTER_MS,
        "reconnect_after_ms": RECONNECT_AFTER_MS,
    })
}

async fn page(State(state): State<AppState>, session: PageSession) -> Response {
    if !session.allows(Permission::Supervise) {
        return forbidden(&session);
    }
    let l = session.lang.lang;
    let tables: &[Table] = &[STRINGS, super::desk::STRINGS];
    let tr = |k: &str| esc(t(l, tables, k));
    let cfg = config(&state, session.user.id, &session.user.username);
    let mut th_rows = String::new();
    for th in THRESHOLDS {
        let _ = write!(
            th_rows,
            "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td data-th=\"{}\" data-level=\"amber\"></td><td data-th=\"{}\" data-level=\"red\"></td></tr>",
            tr(&format!("wb.th.{}", th.key)),
            esc(th.key),
            esc(th.key),
            esc(th.key),
        );
    }
    let body = format!(
        r##"<div class="wb">
<p id="wb-stale" class="stale-banner" role="alert" hidden></p>
<p id="wb-no-telephony" class="notice" hidden>{no_telephony}</p>
<div class="wb-bar">
<h1>{title}</h1>
<span id="feed-status" class="feed-status" role="status" data-state="connecting">{connecting}</span>
<span class="muted">{updated} <time id="wb-updated">—</time></span>
<button type="button" id="wb-tv" class="btn ghost" aria-pressed="false">{tv}</button>
</div>
<section aria-labelledby="queues-h"><h2 id="queues-h" class="sr-only">{queues}</h2>
<div id="queues" class="queues" aria-live="off"></div></section>
<div class="wb-grid">
<section class="tile" aria-labelledby="agents-h">
<h2 id="agents-h">{agents} <span id="agents-count" class="muted"></span></h2>
<div class="scroll-y"><table id="agents" class="wb-table">
<thead><tr><th scope="col">{agent}</th><th scope="col">{state}</th><th scope="col">{in_state}</th><th scope="col">{call}</th><th scope="col" class="num">{today}</th><th scope="col" class="act">{actions}</th></tr></thead>
<tbody></tbody></table></div>
</section>
<section class="tile" aria-labelledby="calls-h">
<h2 id="calls-h">{calls} <span id="calls-count" class="muted"></span></h2>
<div class="scroll-y"><table id="calls" class="wb-table">
<thead><tr><th scope="col">{caller}</th><th scope="col">{queue}</th><th scope="col">{phase}</th><th scope="col" class="num">{time}</th><th scope="col">{agent}</th><th scope="col" class="act">{actions}</th></tr></thead>
<tbody></tbody></table></div>
<p id="calls-empty" class="muted">{no_calls}</p>
</section>
</div>
<section class="tile chart-tile" aria-labelledby="chart-h">
<div class="wb-chart-head"><h2 id="chart-h">{chart}</h2><span id="chart-totals" class="muted"></span>
<span class="legend"><span class="key answered"></span>{answered} <span class="key abandoned"></span>{abandoned} <span class="key other"></span>{other}</span></div>
<div id="chart" class="chart"></div>
<p id="chart-error" class="error" role="alert"></p>
</section>
<p id="wb-message" class="result" role="status"></p>
<p id="wb-error" class="error" role="alert"></p>
<details class="tile thresholds act"><summary>{thresholds}</summary>
<table id="thresholds"><thead><tr><th scope="col">{figure}</th><th scope="col">{parameter}</th><th scope="col">{amber}</th><th scope="col">{red}</th></tr></thead><tbody>{th_rows}</tbody></table>
<p class="muted small">{th_hint}</p></details>
</div>
<dialog id="dlg-state" aria-labelledby="dlg-state-h">
<form id="form-state" method="dialog">
<h2 id="dlg-state-h">{force_title} <span id="dlg-state-who"></span></h2>
<label for="force-state">{new_state}</label>
<select id="force-state"><option value="pause">{st_pause}</option><option value="ready">{st_ready}</option><option value="logout">{st_logout}</option></select>
<label for="force-reason">{reason}</label>
<select id="force-reason"></select>
<p id="dlg-state-error" class="error" role="alert"></p>
<div class="row"><button type="submit" id="force-submit" class="btn primary">{apply}</button>
<button type="button" id="force-cancel" class="btn ghost">{cancel}</button></div>
</form></dialog>
<dialog id="dlg-call" aria-labelledby="dlg-call-h">
<form id="form-call" method="dialog">
<h2 id="dlg-call-h">{call_title} <span id="dlg-call-who"></span></h2>
<label for="move-queue">{move_to}</label>
<div class="row"><select id="move-queue" class="short"></select>
<button type="button" id="move-submit" class="btn">{move}</button></div>
<label for="call-priority">{priority_label}</label>
<div class="row"><input id="call-priority" type="number" min="0" max="255" step="1" class="short">
<button type="button" id="priority-submit" class="btn">{set_priority}</button></div>
<p id="dlg-call-error" class="error" role="alert"></p>
<div class="row"><button type="button" id="call-close" class="btn ghost">{close}</button></div>
</form></dialog>
<script type="application/json" id="wallboard-config">{config}</script>"##,
        no_telephony = tr("wb.no_telephony"),
        title = tr("nav.wallboard"),
        connecting = tr("feed.connecting"),
        updated = tr("wb.updated"),
        tv = tr("wb.tv"),
        queues = tr("wb.queues"),
        agents = tr("wb.agents"),
        agent = tr("wb.agent"),
        state = tr("wb.state"),
        in_state = tr("wb.in_state"),
        call = tr("wb.call"),
        today = tr("wb.today"),
        actions = tr("wb.actions"),
        calls = tr("wb.calls"),
        caller = tr("wb.caller"),
        queue = tr("wb.queue"),
        phase = tr("wb.phase"),
        time = tr("wb.time"),
        no_calls = tr("wb.no_calls"),
        chart = tr("wb.chart"),
        answered = tr("wb.answered"),
        abandoned = tr("wb.abandoned"),
        other = tr("wb.other"),
        thresholds = tr("wb.thresholds"),
        figure = tr("wb.figure"),
        parameter = tr("wb.parameter"),
        amber = tr("wb.amber"),
        red = tr("wb.red"),
        th_hint = tr("wb.th_hint"),
        force_title = tr("wb.force_title"),
        new_state = tr("wb.new_state"),
        st_pause = tr("desk.pause"),
        st_ready = tr("desk.ready"),
        st_logout = tr("desk.logout_queue"),
        reason = tr("wb.reason"),
        apply = tr("wb.apply"),
        cancel = tr("wb.cancel"),
        call_title = tr("wb.call_title"),
        move_to = tr("wb.move_to"),
        move = tr("wb.move"),
        priority_label = tr("wb.priority_label"),
        set_priority = tr("wb.set_priority"),
        close = tr("wb.close"),
        config = json_block(&cfg),
    );
    let page = Page {
        id: "wallboard",
        title_key: "nav.wallboard",
        tables,
        styles: &["/assets/wallboard.css"],
        scripts: &["/assets/wallboard.js"],
        body,
    };
    render(&page, session.lang, Some(&session))
}

/// The wall board's words; states (`state.*`) and pause reasons (`reason.*`) are the desk's.
pub(crate) const STRINGS: Table = &[
    (
        "wb.no_telephony",
        "Телефонія не налаштована: тут лише статистика дзвінків за день.",
        "Telephony is not configured: only the day's call statistics are shown.",
    ),
    ("wb.updated", "Оновлено", "Updated"),
    ("wb.tv", "Великий шрифт", "Large type"),
    (
        "wb.stale",
        "Немає зв'язку з сервером — дані станом на {time}",
        "Disconnected — last update {time}",
    ),
    ("wb.stale_never", "Немає зв'язку з сервером — даних ще немає", "Disconnected — no data yet"),
    ("wb.queues", "Черги", "Queues"),
    ("wb.all_queues", "Усі черги", "All queues"),
    ("wb.waiting", "Очікують", "Waiting"),
    ("wb.longest_wait", "Найдовше очікування", "Longest wait"),
    ("wb.service_level", "Рівень обслуговування", "Service level"),
    ("wb.asa", "Середній час відповіді", "Average speed of answer"),
    ("wb.aht", "Середній час обробки", "Average handle time"),
    ("wb.abandon_rate", "Втрачені", "Abandoned"),
    ("wb.callbacks", "Зворотні дзвінки", "Callbacks pending"),
    (
        "wb.answered_abandoned",
        "відповіли {answered}, втрачено {abandoned}",
        "answered {answered}, abandoned {abandoned}",
    ),
    (
        "wb.sl.answered_and_abandoned",
        "відповіли за {t} с ÷ (відповіли + покинули після {short} с)",
        "answered within {t} s ÷ (answered + abandoned after {short} s)",
    ),
    ("wb.sl.answered_only", "відповіли за {t} с ÷ відповіли", "answered within {t} s ÷ answered"),
    (
        "wb.sl.abandoned_within_t_is_good",
        "(відповіли + покинули за {t} с) ÷ (відповіли + покинули)",
        "(answered + abandoned within {t} s) ÷ (answered + abandoned)",
    ),
    ("wb.level.amber", "увага", "warning"),
    ("wb.level.red", "критично", "critical"),
    ("wb.agents", "Оператори", "Operators"),
    ("wb.agent", "Оператор", "Operator"),
    ("wb.state", "Стан", "State"),
    ("wb.in_state", "У стані", "In state"),
    ("wb.call", "Дзвінок", "Call"),
    ("wb.today", "Дзвінків сьогодні", "Calls today"),
    ("wb.actions", "Дії", "Actions"),
    ("wb.change_state", "Змінити стан", "Change state"),
    ("wb.change_state_of", "Змінити стан оператора {name}", "Change the state of {name}"),
    ("wb.pending", "далі: {what}", "next: {what}"),
    ("wb.calls", "Дзвінки зараз", "Live calls"),
    ("wb.caller", "Номер", "Number"),
    ("wb.hidden", "Без номера", "No number"),
    ("wb.queue", "Черга", "Queue"),
    ("wb.phase", "Етап", "Phase"),
    ("wb.time", "Час", "Time"),
    ("wb.no_calls", "Зараз немає дзвінків.", "No calls right now."),
    ("wb.priority", "пріоритет {n}", "priority {n}"),
    ("wb.phase.ivr", "Меню", "Menu"),
    ("wb.phase.queued", "У черзі", "Waiting"),
    ("wb.phase.callback", "Зворотний дзвінок", "Callback"),
    ("wb.phase.ringing", "Дзвонить оператору", "Ringing"),
    ("wb.phase.talking", "Розмова", "Talking"),
    ("wb.listen", "Слухати", "Listen"),
    ("wb.whisper", "Підказати", "Whisper"),
    ("wb.barge", "Втрутитися", "Barge"),
    ("wb.mode_label", "{mode}: дзвінок {caller}", "{mode}: call {caller}"),
    (
        "wb.no_phone",
        "Для вас не налаштовано телефон супервізора",
        "No supervisor phone is configured for you",
    ),
    (
        "wb.eavesdrop_started",
        "{mode}: ваш телефон дзвонить — дзвінок {caller}",
        "{mode}: your phone is ringing — call {caller}",
    ),
    ("wb.manage_call", "Черга / пріоритет", "Queue / priority"),
    (
        "wb.manage_call_of",
        "Черга і пріоритет дзвінка {caller}",
        "Queue and priority of the call {caller}",
    ),
    ("wb.chart", "Дзвінки сьогодні, по 15 хвилин", "Calls today, per 15 minutes"),
    (
        "wb.chart_totals",
        "надійшло {offered}, відповіли {answered}, втрачено {abandoned}",
        "offered {offered}, answered {answered}, abandoned {abandoned}",
    ),
    (
        "wb.chart_bar",
        "{from}–{to}: надійшло {offered}, відповіли {answered}, втрачено {abandoned}",
        "{from}–{to}: offered {offered}, answered {answered}, abandoned {abandoned}",
    ),
    (
        "wb.chart_summary",
        "Стовпчик — дзвінки, що надійшли за 15 хвилин: зелене — відповіли, червоне — втрачено, сіре — решта. Усього {totals}.",
        "Each bar is the calls offered in 15 minutes: green answered, red abandoned, grey the rest. In all {totals}.",
    ),
    (
        "wb.chart_failed",
        "Не вдалося отримати статистику за день: {message}",
        "Could not load the day's statistics: {message}",
    ),
    ("wb.answered", "відповіли", "answered"),
    ("wb.abandoned", "втрачено", "abandoned"),
    ("wb.other", "очікують / інше", "waiting / other"),
    ("wb.thresholds", "Пороги кольорів", "Colour thresholds"),
    ("wb.figure", "Показник", "Figure"),
    ("wb.parameter", "Параметр адреси", "Address parameter"),
    ("wb.amber", "Жовтий від", "Amber from"),
    ("wb.red", "Червоний від", "Red from"),
    (
        "wb.th_hint",
        "Змінити для цього екрана: додайте до адреси, наприклад, ?waiting=2,5&service_level=90,75 (жовтий, червоний).",
        "To change them for this screen, add them to the address, e.g. ?waiting=2,5&service_level=90,75 (amber, red).",
    ),
    ("wb.th.waiting", "Очікують у черзі (дзвінків)", "Calls waiting"),
    ("wb.th.longest_wait", "Найдовше очікування (с)", "Longest wait (s)"),
    (
        "wb.th.service_level",
        "Рівень обслуговування (%, нижче — гірше)",
        "Service level (%, lower is worse)",
    ),
    ("wb.th.asa", "Середній час відповіді (с)", "Average speed of answer (s)"),
    ("wb.th.aht", "Середній час обробки (с)", "Average handle time (s)"),
    ("wb.th.abandon_rate", "Втрачені (%)", "Abandon rate (%)"),
    ("wb.th.callbacks", "Зворотні дзвінки в черзі", "Callbacks pending"),
    ("wb.th.paused", "Оператор на паузі (с)", "Operator paused (s)"),
    ("wb.th.wrap_up", "Опрацювання після дзвінка (с)", "Wrap-up (s)"),
    ("wb.th.talking", "Одна розмова (с)", "One conversation (s)"),
    ("wb.force_title", "Змінити стан:", "Change the state of"),
    ("wb.new_state", "Новий стан", "New state"),
    ("wb.reason", "Причина паузи", "Pause reason"),
    ("wb.apply", "Застосувати", "Apply"),
    ("wb.cancel", "Скасувати", "Cancel"),
    ("wb.forced", "{name}: {state}", "{name}: {state}"),
    ("wb.call_title", "Дзвінок", "Call"),
    ("wb.move_to", "Перевести в чергу", "Move to queue"),
    ("wb.move", "Перевести", "Move"),
    (
        "wb.moved",
        "Дзвінок {caller} переведено в чергу {queue}",
        "The call {caller} was moved to {queue}",
    ),
    (
        "wb.priority_label",
        "Пріоритет (0–255, більший — раніше)",
        "Priority (0–255, higher goes first)",
    ),
    ("wb.set_priority", "Встановити", "Set"),
    ("wb.priority_set", "Дзвінок {caller}: пріоритет {n}", "The call {caller}: priority {n}"),
    ("wb.close", "Закрити", "Close"),
    ("wb.gone", "Цього дзвінка вже немає", "That call is gone"),
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use kontakt_store::{NewUser, Role};
    use tower::ServiceExt;

    use super::*;
    use crate::pages::i18n::{self, COMMON, keys_used_in_js};
    use crate::{WebSettings, app};

    const PASSWORD: &str = "correct horse battery";

    async fn get(app: &Router, path: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let r = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get(header::LOCATION)
            .or_else(|| r.headers().get(header::CONTENT_SECURITY_POLICY))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, location, String::from_utf8_lossy(&body).into_owned())
    }

    async fn login(app: &Router, username: &str) -> String {
        let body = json!({"username": username, "password": PASSWORD}).to_string();
        let req = Request::post("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let c = r.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap();
        c.split(';').next().unwrap().to_string()
    }

    /// The page for supervisors only, with its configuration; the name a user was given
    /// (which may carry markup) is text; without telephony the page says so.
    #[tokio::test]
    async fn the_page_is_for_supervisors_and_escapes_what_it_shows() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            kontakt_store::open(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        let hash = crate::auth::hash_password(PASSWORD).unwrap();
        for (name, display, role) in [
            ("nadia", "<script>alert('sup')</script> Надія", Role::Supervisor),
            ("olena", "Олена", Role::Operator),
        ] {
            let user = NewUser {
                username: name.into(),
                display_name: display.into(),
                role,
                password_hash: hash.clone(),
                executor_id: None,
                must_change_password: false,
            };
            store.create_user(user, chrono::Utc::now()).await.unwrap();
        }
        let state = AppState { store, settings: Arc::new(WebSettings::default()), engine: None };
        let app = app(state);

        let (status, location, _) = get(&app, "/wallboard", None).await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(location, "/login?next=/wallboard");

        let nadia = login(&app, "nadia").await;
        let (status, csp, page) = get(&app, "/wallboard", Some(&nadia)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!page.contains("<script>alert"), "markup from a user's name reached the page");
        assert!(page.contains("&lt;script&gt;alert(&#39;sup&#39;)&lt;/script&gt; Надія"));
        assert!(page.contains("<script type=\"module\" src=\"/assets/wallboard.js\">"));
        let start =
            page.find("id=\"wallboard-config\">").unwrap() + "id=\"wallboard-config\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let cfg: Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(cfg["telephony"], false);
        assert_eq!(cfg["stale_after_ms"], 1500);
        assert_eq!(cfg["reconnect_after_ms"], 3000);
        assert_eq!(cfg["thresholds"]["service_level"]["worse"], "lower");
        assert_eq!(cfg["thresholds"]["waiting"]["amber"], 3.0);
        // Every string the page and its script use is in the page, in Ukrainian by default.
        assert!(!page.contains("⟨?⟩"), "a string is missing");
        assert!(page.contains("Табло") && page.contains("Пороги кольорів"));
        let (_, _, en) = get(&app, "/wallboard?lang=en", Some(&nadia)).await;
        assert!(en.contains("Colour thresholds") && !en.contains("⟨?⟩"));

        let olena = login(&app, "olena").await;
        let (status, _, _) = get(&app, "/wallboard", Some(&olena)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        for asset in ["/assets/wallboard.js", "/assets/wallboard.css"] {
            let (status, _, body) = get(&app, asset, None).await;
            assert_eq!(status, StatusCode::OK, "{asset}");
            assert!(body.len() > 1000, "{asset}");
        }
    }

    #[test]
    fn the_wallboard_strings_are_consistent_and_every_script_key_exists() {
        i18n::check(STRINGS).unwrap();
        let others: Vec<&str> =
            COMMON.iter().chain(super::super::desk::STRINGS).map(|(k, _, _)| *k).collect();
        for (k, _, _) in STRINGS {
            assert!(!others.contains(k), "{k} is in another table too");
            assert!(k.starts_with("wb."), "{k}: the wall board's keys start with wb.");
        }
        let all = || STRINGS.iter().chain(super::super::desk::STRINGS).chain(COMMON);
        for key in keys_used_in_js(include_str!("../../assets/wallboard.js")) {
            if key.ends_with('.') {
                assert!(all().any(|(k, _, _)| k.starts_with(&key)), "no key with prefix {key}");
            } else {
                assert!(
                    all().any(|(k, _, _)| *k == key),
                    "wallboard.js uses {key}, no table has it"
                );
            }
        }
        for th in THRESHOLDS {
            let key = format!("wb.th.{}", th.key);
            assert!(STRINGS.iter().any(|(k, _, _)| *k == key), "{key}");
            let ordered = match th.worse {
                Worse::Higher => th.amber < th.red,
                Worse::Lower => th.amber > th.red,
            };
            assert!(ordered, "{}: amber must come before red", th.key);
        }
        for c in [
            SlConvention::AnsweredAndAbandoned,
            SlConvention::AnsweredOnly,
            SlConvention::AbandonedWithinTIsGood,
        ] {
            assert!(STRINGS.iter().any(|(k, _, _)| *k == convention_key(c)));
        }
    }
}
