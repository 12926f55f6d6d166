//! `/desk`: the operator's working screen. The server renders the frame (labels, the form,
//! the keyboard shortcuts); `assets/desk.js` fills it from the feed (`view=desk`) and acts
//! through the desk API (`/api/v1/desk…`) and the appeals API.
//!
//! Keyboard shortcuts (listed on the page too): F2 ready, F3 pause, F4 hold / resume, F8 hang
//! up, F9 transfer, Alt+C category search, Alt+A address, Alt+N new appeal, Alt+L link to an
//! existing appeal, Alt+O other outcome, Ctrl+Enter submit.

use axum::Router;
use axum::response::Response;
use axum::routing::get;

use super::html::{esc, options};
use super::i18n::{Table, t};
use super::layout::{Page, render};
use super::{Kind, PageSession, asset, forbidden};
use crate::WebState;
use crate::access::Permission;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/desk", get(page))
        .route("/assets/desk.js", asset(include_str!("../../assets/desk.js"), Kind::Js))
        .route("/assets/desk.css", asset(include_str!("../../assets/desk.css"), Kind::Css))
}

/// The shortcuts, as shown on the page: (keys, string key).
pub(crate) const SHORTCUTS: &[(&str, &str)] = &[
    ("F2", "desk.ready"),
    ("F3", "desk.pause"),
    ("F4", "desk.hold"),
    ("F8", "desk.hangup"),
    ("F9", "desk.transfer"),
    ("Alt+C", "form.category"),
    ("Alt+A", "form.street"),
    ("Alt+N", "form.mode_new"),
    ("Alt+L", "form.mode_link"),
    ("Alt+O", "form.mode_outcome"),
    ("Ctrl+Enter", "form.submit"),
];

async fn page(session: PageSession) -> Response {
    if !session.allows(Permission::Desk) {
        return forbidden(&session);
    }
    let l = session.lang.lang;
    let tr = |k: &str| esc(t(l, &[STRINGS], k));
    let channels = ["phone", "email", "post", "personal_reception", "web"];
    let channel_opts = options(
        channels.iter().map(|c| (*c, t(l, &[STRINGS], &format!("channel.{c}")))),
        Some("phone"),
    );
    let kinds = ["application", "complaint", "proposal", "incident_report"];
    let kind_opts = options(
        kinds.iter().map(|k| (*k, t(l, &[STRINGS], &format!("legal_kind.{k}")))),
        Some("application"),
    );
    let mut shortcuts = String::new();
    for (keys, key) in SHORTCUTS {
        let keys: Vec<String> = keys.split('+').map(|k| format!("<kbd>{}</kbd>", esc(k))).collect();
        shortcuts.push_str(&format!("<dt>{}</dt><dd>{}</dd>", keys.join("+"), tr(key)));
    }
    let body = format!(
        r##"<div class="desk">
<div class="col-left">
<section class="tile state-tile" aria-labelledby="state-h">
<div class="row between"><h2 id="state-h">{state_h}</h2><span id="feed-status" class="feed-status" role="status" data-state="connecting">{connecting}</span></div>
<p class="state-line"><span id="state-badge" class="badge">—</span> <span id="state-reason" class="muted"></span> <span class="muted">{in_state}</span> <time id="state-time" class="timer">0:00</time></p>
<div class="row">
<button type="button" id="btn-ready" class="btn ok">{ready} <kbd>F2</kbd></button>
<label for="pause-reason" class="sr-only">{pause_reason}</label>
<select id="pause-reason" class="short"></select>
<button type="button" id="btn-pause" class="btn">{pause} <kbd>F3</kbd></button>
<button type="button" id="btn-logout-queue" class="btn ghost">{logout_queue}</button>
</div>
<p id="state-error" class="error" role="alert"></p>
</section>
<section class="tile call-tile" id="call-panel" aria-labelledby="call-h">
<div class="row between"><h2 id="call-h">{call_h}</h2><span id="call-badge" class="badge" hidden></span></div>
<p id="no-call" class="muted">{no_call}</p>
<div id="call-controls" class="row controls" hidden>
<button type="button" id="btn-hold" class="btn">{hold} <kbd>F4</kbd></button>
<label for="transfer-target" class="sr-only">{transfer_target}</label>
<select id="transfer-target" class="short"></select>
<button type="button" id="btn-transfer" class="btn">{transfer} <kbd>F9</kbd></button>
<button type="button" id="btn-hangup" class="btn bad">{hangup} <kbd>F8</kbd></button>
</div>
<div id="pop" hidden aria-live="polite">
<dl class="pop-grid">
<dt>{caller}</dt><dd><strong id="pop-caller"></strong></dd>
<dt>{line}</dt><dd id="pop-line"></dd>
<dt>{queue}</dt><dd id="pop-queue"></dd>
<dt>{waited}</dt><dd id="pop-waited"></dd>
<dt>{ivr}</dt><dd id="pop-ivr"></dd>
<dt>{talk}</dt><dd><time id="call-time" class="timer"></time></dd>
</dl>
<div id="pop-applicant" class="applicant"></div>
<h3>{prev_appeals}</h3>
<div class="scroll-y small-table"><table id="pop-appeals"><thead><tr><th scope="col">{reg_no}</th><th scope="col">{category}</th><th scope="col">{q_state}</th><th scope="col">{due}</th><th scope="col">{executor}</th></tr></thead><tbody></tbody></table></div>
<h3>{open_questions}</h3>
<ul id="pop-open" class="plain"></ul>
<h3>{outages}</h3>
<ul id="pop-outages" class="plain"></ul>
</div>
<p id="wrap-line" class="notice" hidden>{wrap_up} <time id="wrap-time" class="timer">0:00</time> — {wrap_hint}</p>
<p id="call-error" class="error" role="alert"></p>
<details class="events"><summary>{events}</summary><ol id="events" class="log"></ol></details>
</section>
</div>
<section class="tile col-right form-tile" aria-labelledby="form-h">
<div class="row between"><h2 id="form-h">{form_h}</h2><span id="form-context" class="muted"></span></div>
<fieldset class="modes"><legend class="sr-only">{mode}</legend>
<label class="inline"><input type="radio" name="mode" value="new" id="mode-new" checked> {mode_new}</label>
<label class="inline"><input type="radio" name="mode" value="link" id="mode-link"> {mode_link}</label>
<label class="inline"><input type="radio" name="mode" value="outcome" id="mode-outcome"> {mode_outcome}</label>
</fieldset>
<form id="appeal-form" novalidate>
<div class="grid3">
<div><label for="channel">{channel}</label><select id="channel" data-field="channel">{channel_opts}</select></div>
<div><label for="legal-kind">{legal_kind}</label><select id="legal-kind" data-field="legal_kind">{kind_opts}</select></div>
<div class="emergency-box"><label class="inline"><input type="checkbox" id="emergency"> {emergency}</label></div>
</div>
<label for="category-search">{category} <kbd>Alt+C</kbd></label>
<div class="combo">
<input id="category-search" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="category-list" autocomplete="off" placeholder="{category_ph}" data-field="questions[0].category_code">
<ul id="category-list" role="listbox" aria-label="{category}" hidden></ul>
</div>
<p id="category-chosen" class="chosen" aria-live="polite"></p>
<fieldset class="address"><legend>{address}</legend>
<div class="grid-address">
<div class="street"><label for="street">{street} <kbd>Alt+A</kbd></label><input id="street" autocomplete="off" data-field="questions[0].address.street"></div>
<div><label for="building">{building}</label><input id="building" autocomplete="off" data-field="questions[0].address.building"></div>
<div><label for="entrance">{entrance}</label><input id="entrance" autocomplete="off" data-field="questions[0].address.entrance"></div>
<div><label for="floor">{floor}</label><input id="floor" inputmode="numeric" autocomplete="off" data-field="questions[0].address.floor"></div>
<div><label for="flat">{flat}</label><input id="flat" autocomplete="off" data-field="questions[0].address.flat"></div>
<div><label for="district">{district}</label><input id="district" autocomplete="off" data-field="questions[0].address.district"></div>
</div></fieldset>
<fieldset id="emergency-fields" class="emergency" hidden><legend>{emergency}</legend>
<div class="grid2">
<div><label for="discovered-at">{discovered_at}</label><input id="discovered-at" type="datetime-local" data-field="questions[0].emergency.discovered_at"></div>
<div><label for="nature">{nature}</label><input id="nature" autocomplete="off" data-field="questions[0].emergency.nature"></div>
</div></fieldset>
<label for="description">{description}</label>
<textarea id="description" rows="3" data-field="questions[0].description"></textarea>
<fieldset class="applicant-fields"><legend>{applicant}</legend>
<p id="applicant-note" class="muted small"></p>
<div class="grid3">
<div><label for="last-name">{last_name}</label><input id="last-name" autocomplete="off" data-field="applicant.last_name"></div>
<div><label for="first-name">{first_name}</label><input id="first-name" autocomplete="off" data-field="applicant.first_name"></div>
<div><label for="patronymic">{patronymic}</label><input id="patronymic" autocomplete="off" data-field="applicant.patronymic"></div>
<div><label for="phone">{phone}</label><input id="phone" type="tel" autocomplete="off" data-field="applicant.phones"></div>
<div><label for="email">{email}</label><input id="email" type="email" autocomplete="off" data-field="applicant.email"></div>
</div></fieldset>
<section id="suggestions" class="suggestions" aria-live="polite" aria-labelledby="sugg-h" hidden>
<h3 id="sugg-h">{suggestions}</h3><ul id="suggestion-list" class="plain"></ul></section>
<div class="row"><button type="submit" id="btn-submit" class="btn primary">{submit} <kbd>Ctrl</kbd>+<kbd>Enter</kbd></button>
<button type="button" id="btn-clear" class="btn ghost">{clear}</button></div>
</form>
<form id="link-form" hidden novalidate>
<label for="link-reg-no">{link_reg_no}</label>
<div class="row"><input id="link-reg-no" class="short" placeholder="2026-000001" autocomplete="off">
<button type="button" id="btn-find" class="btn">{find}</button></div>
<div id="link-found" class="found" aria-live="polite"></div>
<div class="row"><button type="submit" id="btn-link" class="btn primary" disabled>{link_submit} <kbd>Ctrl</kbd>+<kbd>Enter</kbd></button></div>
</form>
<form id="outcome-form" hidden novalidate>
<label for="outcome">{outcome}</label>
<select id="outcome" class="short"></select>
<div class="row"><button type="submit" id="btn-outcome" class="btn primary">{outcome_submit} <kbd>Ctrl</kbd>+<kbd>Enter</kbd></button></div>
</form>
<p id="form-error" class="error" role="alert"></p>
<p id="form-result" class="result" role="status"></p>
</section>
</div>
<details class="tile shortcuts"><summary>{shortcuts_h}</summary><dl class="keys">{shortcuts}</dl></details>"##,
        state_h = tr("desk.state"),
        connecting = tr("feed.connecting"),
        in_state = tr("desk.in_state"),
        ready = tr("desk.ready"),
        pause_reason = tr("desk.pause_reason"),
        pause = tr("desk.pause"),
        logout_queue = tr("desk.logout_queue"),
        call_h = tr("desk.call"),
        no_call = tr("desk.no_call"),
        caller = tr("pop.caller"),
        line = tr("pop.line"),
        queue = tr("pop.queue"),
        waited = tr("pop.waited"),
        ivr = tr("pop.ivr"),
        talk = tr("pop.duration"),
        prev_appeals = tr("pop.appeals"),
        reg_no = tr("pop.reg_no"),
        category = tr("form.category"),
        q_state = tr("pop.q_state"),
        due = tr("pop.due"),
        executor = tr("pop.executor"),
        open_questions = tr("pop.open_questions"),
        outages = tr("pop.outages"),
        hold = tr("desk.hold"),
        transfer_target = tr("desk.transfer_target"),
        transfer = tr("desk.transfer"),
        hangup = tr("desk.hangup"),
        wrap_up = tr("desk.wrap_up"),
        wrap_hint = tr("desk.wrap_hint"),
        events = tr("desk.events"),
        form_h = tr("form.title"),
        mode = tr("form.mode"),
        mode_new = tr("form.mode_new"),
        mode_link = tr("form.mode_link"),
        mode_outcome = tr("form.mode_outcome"),
        channel = tr("form.channel"),
        legal_kind = tr("form.legal_kind"),
        emergency = tr("form.emergency"),
        category_ph = tr("form.category_ph"),
        address = tr("form.address"),
        street = tr("form.street"),
        building = tr("form.building"),
        entrance = tr("form.entrance"),
        floor = tr("form.floor"),
        flat = tr("form.flat"),
        district = tr("form.district"),
        discovered_at = tr("form.discovered_at"),
        nature = tr("form.nature"),
        description = tr("form.description"),
        applicant = tr("form.applicant"),
        last_name = tr("form.last_name"),
        first_name = tr("form.first_name"),
        patronymic = tr("form.patronymic"),
        phone = tr("form.phone"),
        email = tr("form.email"),
        suggestions = tr("form.suggestions"),
        submit = tr("form.submit"),
        clear = tr("form.clear"),
        link_reg_no = tr("form.link_reg_no"),
        find = tr("form.find"),
        link_submit = tr("form.link_submit"),
        outcome = tr("form.outcome"),
        outcome_submit = tr("form.outcome_submit"),
        shortcuts_h = tr("desk.shortcuts"),
    );
    let page = Page {
        id: "desk",
        title_key: "nav.desk",
        tables: &[STRINGS],
        styles: &["/assets/desk.css"],
        scripts: &["/assets/desk.js"],
        body,
    };
    render(&page, session.lang, Some(&session))
}

/// The desk's words (the common ones are in `i18n::COMMON`).
pub(crate) const STRINGS: Table = &[
    ("desk.state", "Мій стан", "My state"),
    ("desk.in_state", "у стані", "for"),
    ("desk.ready", "Готовий", "Ready"),
    ("desk.pause", "Пауза", "Pause"),
    ("desk.pause_reason", "Причина паузи", "Pause reason"),
    ("desk.logout_queue", "Завершити зміну", "End shift"),
    ("desk.call", "Дзвінок", "Call"),
    (
        "desk.no_call",
        "Немає дзвінка. Натисніть «Готовий», щоб приймати дзвінки.",
        "No call. Press Ready to take calls.",
    ),
    ("desk.hold", "Утримання", "Hold"),
    ("desk.unhold", "Зняти з утримання", "Resume"),
    ("desk.transfer", "Переадресувати", "Transfer"),
    ("desk.transfer_target", "Куди переадресувати", "Transfer to"),
    ("desk.hangup", "Завершити дзвінок", "Hang up"),
    ("desk.wrap_up", "Опрацювання після дзвінка:", "Wrap-up:"),
    (
        "desk.wrap_hint",
        "збережіть звернення або результат, щоб завершити.",
        "save the appeal or an outcome to finish.",
    ),
    ("desk.events", "Журнал подій", "Event log"),
    ("desk.shortcuts", "Клавіатурні скорочення", "Keyboard shortcuts"),
    ("desk.held", "На утриманні", "On hold"),
    ("desk.call_ended", "Дзвінок завершено", "Call ended"),
    (
        "desk.not_operator",
        "Цей обліковий запис не налаштований як оператор кол-центру.",
        "This account is not configured as a call-center operator.",
    ),
    ("state.logged-out", "Не на зміні", "Logged out"),
    ("state.ready", "Готовий", "Ready"),
    ("state.paused", "Пауза", "Paused"),
    ("state.delayed", "Очікує", "Delayed"),
    ("state.offered", "Вхідний дзвінок", "Incoming call"),
    ("state.dialing", "Набір", "Dialling"),
    ("state.talking", "Розмова", "Talking"),
    ("state.wrap-up", "Опрацювання", "Wrap-up"),
    ("reason.break", "Перерва", "Break"),
    ("reason.lunch", "Обід", "Lunch"),
    ("reason.training", "Навчання", "Training"),
    ("reason.outbound_work", "Вихідні дзвінки", "Outbound work"),
    ("reason.missed_calls", "Пропущені дзвінки", "Missed calls"),
    ("outcome.consultation", "Консультація", "Consultation"),
    ("outcome.wrong_number", "Помилковий дзвінок", "Wrong number"),
    ("outcome.silent_line", "Тиша на лінії", "Silent line"),
    ("outcome.test", "Тестовий дзвінок", "Test call"),
    ("pop.caller", "Номер", "Number"),
    ("pop.hidden", "Номер приховано", "Number withheld"),
    ("pop.line", "Лінія", "Line"),
    ("pop.queue", "Черга", "Queue"),
    ("pop.waited", "Очікував", "Waited"),
    ("pop.ivr", "Вибір у меню", "Menu choices"),
    ("pop.duration", "Тривалість", "Duration"),
    ("pop.callback", "Зворотний дзвінок", "Callback"),
    ("pop.priority", "Пріоритет {n}", "Priority {n}"),
    ("pop.applicant", "Заявник", "Applicant"),
    ("pop.unknown", "Заявника не розпізнано", "Caller not recognised"),
    ("pop.appeals", "Попередні звернення", "Previous appeals"),
    ("pop.no_appeals", "Немає", "None"),
    ("pop.reg_no", "Номер", "Number"),
    ("pop.q_state", "Стан", "State"),
    ("pop.due", "Термін", "Due"),
    ("pop.executor", "Виконавець", "Executor"),
    ("pop.open_questions", "Відкриті питання заявника", "The applicant's open questions"),
    ("pop.outages", "Відключення за адресою", "Outages at the address"),
    ("pop.no_outages", "Немає відомостей", "None known"),
    ("pop.outage_since", "з {time}", "since {time}"),
    ("pop.outage_until", "орієнтовно до {time}", "expected back by {time}"),
    ("pop.outage_message", "Для заявника", "For the caller"),
    ("outage.kind.accident", "Аварія", "Accident"),
    ("outage.kind.planned_work", "Планові роботи", "Planned work"),
    ("outage.kind.restriction", "Обмеження", "Restriction"),
    ("outage.class.water", "Холодна вода", "Cold water"),
    ("outage.class.hot_water", "Гаряча вода", "Hot water"),
    ("outage.class.heating", "Опалення", "Heating"),
    ("outage.class.electricity", "Електроенергія", "Electricity"),
    ("outage.class.gas", "Газ", "Gas"),
    ("outage.class.sewage", "Водовідведення", "Sewerage"),
    ("outage.class.lift", "Ліфт", "Lift"),
    ("outage.class.other", "Інше", "Other"),
    ("pop.last_operator", "Останнім спілкувався оператор №{id}", "Last handled by operator #{id}"),
    ("aq.registered", "Зареєстровано", "Registered"),
    ("aq.issued", "Передано виконавцю", "Issued"),
    ("aq.accepted", "Прийнято", "Accepted"),
    ("aq.in_work", "У роботі", "In work"),
    ("aq.reported", "Виконавець звітував", "Reported"),
    ("aq.on_check", "На перевірці", "On check"),
    ("aq.rework", "На доопрацюванні", "Rework"),
    ("aq.closed", "Закрито", "Closed"),
    ("aq.cancelled", "Скасовано", "Cancelled"),
    ("aq.none", "Не розподілено", "Not routed"),
    ("ev.screen_pop", "Вхідний дзвінок {caller}", "Incoming call {caller}"),
    ("ev.offer_cancelled", "Дзвінок знято ({reason})", "Offer withdrawn ({reason})"),
    ("ev.connected", "З'єднано", "Connected"),
    ("ev.ended", "Дзвінок завершено ({cause})", "Call ended ({cause})"),
    ("ev.linked", "Дзвінок прив'язано: {link}", "Call linked: {link}"),
    ("ev.state", "Стан: {state}", "State: {state}"),
    ("ev.held", "Утримання: {held}", "Hold: {held}"),
    ("ev.transferred", "Переадресовано: {target}", "Transferred: {target}"),
    ("ev.yes", "так", "on"),
    ("ev.no", "ні", "off"),
    ("form.title", "Звернення", "Appeal"),
    ("form.mode", "Що зробити з дзвінком", "What to do with the call"),
    ("form.mode_new", "Нове звернення", "New appeal"),
    ("form.mode_link", "Існуюче звернення", "Existing appeal"),
    ("form.mode_outcome", "Інший результат", "Other outcome"),
    ("form.for_call", "З дзвінка {caller}", "From the call {caller}"),
    (
        "form.no_call",
        "Без дзвінка: особистий прийом, пошта, e-mail",
        "Without a call: walk-in, post, e-mail",
    ),
    ("form.channel", "Канал", "Channel"),
    ("form.legal_kind", "Вид звернення", "Kind"),
    ("form.emergency", "Аварійна ситуація", "Emergency"),
    ("form.category", "Категорія", "Category"),
    (
        "form.category_ph",
        "Почніть вводити: вода, ліфт, опалення…",
        "Start typing: water, lift, heating…",
    ),
    ("form.category_none", "Нічого не знайдено", "Nothing found"),
    ("form.category_chosen", "Обрано: {name}", "Chosen: {name}"),
    ("form.address", "Адреса", "Address"),
    ("form.street", "Вулиця", "Street"),
    ("form.building", "Будинок", "Building"),
    ("form.entrance", "Під'їзд", "Entrance"),
    ("form.floor", "Поверх", "Floor"),
    ("form.flat", "Квартира", "Flat"),
    ("form.district", "Район", "District"),
    ("form.discovered_at", "Коли виявлено", "Discovered at"),
    ("form.nature", "Характер аварії", "Nature of the emergency"),
    ("form.description", "Суть звернення", "Description"),
    ("form.applicant", "Заявник", "Applicant"),
    (
        "form.applicant_known",
        "Дані заявника з реєстру; якщо їх змінити, буде створено нову картку.",
        "The applicant's data from the registry; changing it creates a new record.",
    ),
    ("form.applicant_new", "Новий заявник", "New applicant"),
    ("form.last_name", "Прізвище", "Last name"),
    ("form.first_name", "Ім'я", "First name"),
    ("form.patronymic", "По батькові", "Patronymic"),
    ("form.phone", "Телефон", "Phone"),
    ("form.email", "E-mail", "E-mail"),
    ("form.suggestions", "Можливо, це те саме", "Possibly the same"),
    ("form.repeat", "Повторне звернення (ст. 8): {reg_no}", "Repeat appeal (Art. 8): {reg_no}"),
    (
        "form.duplicate",
        "Відкрите питання за цією адресою: {number}",
        "Open question at this address: {number}",
    ),
    ("form.link_this", "Прив'язати дзвінок до {reg_no}", "Link the call to {reg_no}"),
    ("form.submit", "Зберегти звернення", "Save the appeal"),
    ("form.clear", "Очистити", "Clear"),
    ("form.link_reg_no", "Реєстраційний номер звернення", "The appeal's registration number"),
    ("form.find", "Знайти", "Find"),
    ("form.not_found", "Звернення не знайдено", "No such appeal"),
    ("form.link_submit", "Прив'язати дзвінок", "Link the call"),
    ("form.outcome", "Результат дзвінка", "Outcome of the call"),
    ("form.outcome_submit", "Зберегти результат", "Save the outcome"),
    ("form.needs_call", "Для цього потрібен дзвінок", "This needs a call"),
    ("form.category_required", "Оберіть категорію зі списку", "Choose a category from the list"),
    ("form.saved", "Звернення {reg_no} зареєстровано", "Appeal {reg_no} registered"),
    (
        "form.saved_linked",
        "Звернення {reg_no} зареєстровано і прив'язано до дзвінка",
        "Appeal {reg_no} registered and linked to the call",
    ),
    (
        "form.linked",
        "Дзвінок прив'язано до звернення {reg_no}",
        "The call is linked to appeal {reg_no}",
    ),
    ("form.outcome_saved", "Результат збережено: {outcome}", "Outcome saved: {outcome}"),
    ("form.fix_fields", "Перевірте виділені поля", "Check the highlighted fields"),
    ("channel.phone", "Телефон", "Phone"),
    ("channel.email", "E-mail", "E-mail"),
    ("channel.post", "Пошта", "Post"),
    ("channel.personal_reception", "Особистий прийом", "Walk-in"),
    ("channel.web", "Вебформа", "Web form"),
    ("legal_kind.application", "Заява", "Application"),
    ("legal_kind.complaint", "Скарга", "Complaint"),
    ("legal_kind.proposal", "Пропозиція", "Proposal"),
    ("legal_kind.incident_report", "Повідомлення про аварію", "Incident report"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::i18n::{self, COMMON, keys_used_in_js};

    #[test]
    fn the_desk_strings_are_consistent_and_every_script_key_exists() {
        i18n::check(STRINGS).unwrap();
        let common: Vec<&str> = COMMON.iter().map(|(k, _, _)| *k).collect();
        assert!(STRINGS.iter().all(|(k, _, _)| !common.contains(k)), "a key in both tables");
        let sources = [
            include_str!("../../assets/desk.js"),
            include_str!("../../assets/feed.js"),
            include_str!("../../assets/login.js"),
            include_str!("../../assets/api.js"),
            include_str!("../../assets/dom.js"),
        ];
        for src in sources {
            for key in keys_used_in_js(src) {
                // Keys built at run time (`state.` + a state) are checked by prefix.
                if key.ends_with('.') {
                    assert!(
                        STRINGS.iter().any(|(k, _, _)| k.starts_with(&key)),
                        "no key with prefix {key}"
                    );
                    continue;
                }
                let found = STRINGS.iter().chain(COMMON).any(|(k, _, _)| *k == key);
                assert!(found, "the scripts use {key}, which no table has");
            }
        }
        for (_, key) in SHORTCUTS {
            assert!(STRINGS.iter().any(|(k, _, _)| k == key), "{key}");
        }
    }

    /// ARCHITECTURE.md, "No citizen text as markup": no asset parses HTML.
    #[test]
    fn no_asset_writes_html() {
        let assets = [
            ("desk.js", include_str!("../../assets/desk.js")),
            ("feed.js", include_str!("../../assets/feed.js")),
            ("login.js", include_str!("../../assets/login.js")),
            ("api.js", include_str!("../../assets/api.js")),
            ("dom.js", include_str!("../../assets/dom.js")),
            ("i18n.js", include_str!("../../assets/i18n.js")),
            ("common.js", include_str!("../../assets/common.js")),
        ];
        for (name, src) in assets {
            for bad in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
                assert!(!src.contains(bad), "{name} uses {bad}");
            }
        }
    }
}
