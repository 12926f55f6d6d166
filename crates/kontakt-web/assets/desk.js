// The operator's desk (pages/desk.rs renders the frame). State and calls come from the feed
// (view=desk); actions go to the desk API. Everything a citizen said or typed is set as text.
import { api, ApiError } from './api.js';
import { FeedClient } from './feed.js';
import { t, has, lang } from './i18n.js';
import { el, clear, $, duration, clock, dateTime } from './dom.js';

const POP_KEY = 'kontakt.pop';
const MAX_EVENTS = 300;

const S = {
  state: 'logged-out',
  reason: null,
  since: Date.now(),
  call: null, // the live call (offered, ringing or talking)
  wrapCall: null, // the ended call awaiting its link
  talkingSince: null,
  wrapSince: null,
  held: false,
  pop: null, // the screen-pop of the current (or wrap-up) call
  outcomes: [],
  pauseReasons: [],
  directory: [],
  categories: new Map(), // code → category
  leaves: [], // [{code, path, hay, emergency}]
  executors: new Map(), // id → name
  category: null, // the chosen category code
  applicant: null, // {id, original: {field: value}} when prefilled from the registry
  found: null, // the appeal found for linking
  mode: 'new',
  busy: false,
};

// ---- labels ---------------------------------------------------------------------------------

function label(prefix, value) {
  if (value === null || value === undefined) return '';
  return has(prefix + value) ? t(prefix + value) : String(value);
}

function categoryName(code) {
  const c = S.categories.get(code);
  if (!c) return code;
  return (lang === 'en' && c.name_en) || c.name_uk;
}

function categoryPath(code) {
  const parts = [];
  let c = S.categories.get(code);
  let guard = 0;
  while (c && guard < 16) {
    parts.unshift((lang === 'en' && c.name_en) || c.name_uk);
    c = c.parent_code ? S.categories.get(c.parent_code) : null;
    guard += 1;
  }
  return parts.join(' › ') || code;
}

function executorName(id) {
  if (id === null || id === undefined) return t('aq.none');
  return S.executors.get(id) || `#${id}`;
}

// ---- state and calls --------------------------------------------------------------------------

function setState(state, reason, at) {
  S.state = state;
  S.reason = reason || null;
  const ts = Date.parse(at);
  S.since = Number.isNaN(ts) ? Date.now() : ts;
}

function fillSelect(select, items, current) {
  const keep = current ?? select.value;
  clear(select);
  for (const [value, text] of items) select.appendChild(el('option', { value }, text));
  if (items.some(([v]) => v === keep)) select.value = keep;
}

function onSnapshot(d) {
  setState(d.state, d.reason, d.since);
  S.outcomes = d.outcomes || [];
  S.pauseReasons = d.pause_reasons || [];
  S.directory = d.directory || [];
  fillSelect($('pause-reason'), S.pauseReasons.map((r) => [r, label('reason.', r)]));
  fillSelect($('outcome'), S.outcomes.map((o) => [o, label('outcome.', o)]));
  fillSelect($('transfer-target'), S.directory.map((x) => [x.code, x.name]));
  S.call = d.call || null;
  S.wrapCall = d.wrap_up_call || null;
  if (S.call && d.state === 'talking' && !S.talkingSince) S.talkingSince = S.since;
  if (S.wrapCall && !S.wrapSince) S.wrapSince = d.state === 'wrap-up' ? S.since : Date.now();
  if (!S.call) S.talkingSince = null;
  if (!S.wrapCall) S.wrapSince = null;
  const current = S.call || S.wrapCall;
  if (current && (!S.pop || S.pop.call !== current)) {
    // The server's copy (a desk opened mid-call), else what this tab kept.
    S.pop = d.pop && d.pop.call === current ? d.pop : restorePop(current);
    if (S.pop) renderPop(false);
  }
  if (!current) S.pop = null;
  render();
}

function onMessage(msg) {
  const d = msg.data || {};
  logEvent(msg);
  switch (msg.type) {
    case 'screen_pop':
      $('form-result').textContent = '';
      $('form-error').textContent = '';
      $('call-error').textContent = '';
      S.pop = d;
      S.call = d.call;
      S.held = false;
      S.talkingSince = null;
      savePop(d);
      renderPop(true);
      // Drawn: tell the server, which rings the phone only now.
      feed.shown(d.call);
      prefillFromPop(d);
      break;
    case 'offer_cancelled':
      if (S.call === d.call) {
        S.call = null;
        if (!S.wrapCall) S.pop = null;
      }
      break;
    case 'connected':
      S.call = d.call;
      S.talkingSince = Date.parse(d.at) || Date.now();
      break;
    case 'ended':
      if (S.call === d.call) S.call = null;
      S.held = false;
      S.talkingSince = null;
      if (d.wrap_up) {
        S.wrapCall = d.call;
        S.wrapSince = Date.parse(d.at) || Date.now();
      } else if (S.pop && S.pop.call === d.call) {
        S.pop = null;
      }
      break;
    case 'linked':
      if (S.wrapCall === d.call) {
        S.wrapCall = null;
        S.wrapSince = null;
        if (S.pop && S.pop.call === d.call) S.pop = null;
      }
      break;
    case 'state':
      setState(d.state, d.reason, d.at);
      break;
    case 'held':
      if (S.call === d.call) S.held = !!d.held;
      break;
    case 'transferred':
      break;
    default:
      return;
  }
  render();
}

function eventText(msg) {
  const d = msg.data || {};
  switch (msg.type) {
    case 'screen_pop':
      return t('ev.screen_pop', { caller: d.caller || t('pop.hidden') });
    case 'offer_cancelled':
      return t('ev.offer_cancelled', { reason: d.reason || '' });
    case 'connected':
      return t('ev.connected');
    case 'ended':
      return t('ev.ended', { cause: d.cause || '' });
    case 'linked': {
      const link = d.link || {};
      const what = link.appeal !== undefined ? `#${link.appeal}` : label('outcome.', link.outcome);
      return t('ev.linked', { link: what });
    }
    case 'state':
      return t('ev.state', { state: label('state.', d.state) + (d.reason ? ` (${label('reason.', d.reason)})` : '') });
    case 'held':
      return t('ev.held', { held: d.held ? t('ev.yes') : t('ev.no') });
    case 'transferred':
      return t('ev.transferred', { target: d.target || '' });
    default:
      return msg.type;
  }
}

function logEvent(msg) {
  const list = $('events');
  const at = (msg.data && msg.data.at) || new Date().toISOString();
  list.appendChild(
    el('li', { dataset: { seq: msg.seq, type: msg.type, call: (msg.data && msg.data.call) || '' } },
      el('time', { datetime: at }, clock(at)), ' ', eventText(msg)),
  );
  while (list.children.length > MAX_EVENTS) list.removeChild(list.firstChild);
}

// ---- the screen-pop ---------------------------------------------------------------------------

function savePop(d) {
  try {
    sessionStorage.setItem(POP_KEY, JSON.stringify(d));
  } catch {
    // no storage: a reload shows the call without its details
  }
}

function restorePop(call) {
  try {
    const d = JSON.parse(sessionStorage.getItem(POP_KEY) || 'null');
    return d && d.call === call ? d : null;
  } catch {
    return null;
  }
}

function renderPop(fresh) {
  const d = S.pop;
  const box = $('pop');
  if (!d) return;
  $('pop-caller').textContent = d.caller || t('pop.hidden');
  $('pop-line').textContent = [d.line, d.carrier, d.dialled].filter(Boolean).join(' · ');
  const q = [d.queue];
  if (d.priority) q.push(t('pop.priority', { n: d.priority }));
  if (d.kind === 'callback') q.push(t('pop.callback'));
  $('pop-queue').textContent = q.filter(Boolean).join(' · ');
  $('pop-waited').textContent = duration(d.waited_ms || 0);
  $('pop-ivr').textContent = (d.ivr || []).join(' › ');
  const ctx = d.context || {};
  const who = clear($('pop-applicant'));
  if (ctx.applicant) {
    who.appendChild(el('p', { class: 'who-name' }, el('span', { class: 'muted' }, `${t('pop.applicant')}: `), el('strong', {}, ctx.applicant.name || `#${ctx.applicant.id}`)));
    if (ctx.applicant.address) who.appendChild(el('p', { class: 'muted' }, ctx.applicant.address));
  } else {
    who.appendChild(el('p', { class: 'muted' }, t('pop.unknown')));
  }
  if (ctx.last_operator) who.appendChild(el('p', { class: 'muted small' }, t('pop.last_operator', { id: ctx.last_operator })));
  const body = clear($('pop-appeals').tBodies[0]);
  const open = clear($('pop-open'));
  const appeals = ctx.appeals || [];
  for (const a of appeals) {
    const qs = a.questions && a.questions.length ? a.questions : [{}];
    qs.forEach((qq, i) => {
      const state = qq.state || null;
      body.appendChild(el('tr', {},
        el('td', {}, i === 0 ? a.reg_no : ''),
        el('td', {}, qq.category ? categoryName(qq.category) : ''),
        el('td', {}, state ? label('aq.', state) : t('aq.none')),
        el('td', {}, dateTime(qq.due_at || a.due_at || '')),
        el('td', {}, executorName(qq.executor_id))));
      if (qq.category && state !== 'closed' && state !== 'cancelled') {
        open.appendChild(el('li', {}, `${a.reg_no}: ${categoryName(qq.category)}`,
          qq.address ? ` — ${qq.address}` : '', ` (${state ? label('aq.', state) : t('aq.none')})`));
      }
    });
  }
  // Other people's open questions at the same building (the server sends only open ones).
  for (const a of ctx.at_address || []) {
    for (const qq of a.questions || []) {
      open.appendChild(el('li', { class: 'at-address' }, `${a.reg_no}: ${categoryName(qq.category)}`,
        qq.address ? ` — ${qq.address}` : '', ` (${qq.state ? label('aq.', qq.state) : t('aq.none')})`));
    }
  }
  if (!appeals.length) body.appendChild(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, t('pop.no_appeals'))));
  if (!open.children.length) open.appendChild(el('li', { class: 'muted' }, t('pop.no_appeals')));
  // Outages in force at the caller's address: what is off, since when, until when, and what
  // the caller may be told. Every text is staff-supplied: set as text, like everything else.
  const outages = clear($('pop-outages'));
  for (const o of d.outages || []) {
    if (!o || typeof o !== 'object') continue;
    const when = [t('pop.outage_since', { time: dateTime(o.started_at || '') })];
    if (o.planned_end_at) when.push(t('pop.outage_until', { time: dateTime(o.planned_end_at) }));
    outages.appendChild(el('li', { class: 'outage', dataset: { kind: String(o.kind || '') } },
      el('strong', {}, `${label('outage.class.', o.class)} · ${label('outage.kind.', o.kind)}`),
      o.nature ? `: ${o.nature}` : '',
      el('div', { class: 'muted small' }, when.join(', ')),
      o.public_message
        ? el('div', { class: 'small' }, el('span', { class: 'muted' }, `${t('pop.outage_message')}: `), o.public_message)
        : null));
  }
  if (!outages.children.length) outages.appendChild(el('li', { class: 'muted' }, t('pop.no_outages')));
  box.dataset.call = d.call;
  if (fresh) {
    // When the pop was on screen, for the browser test that compares it with the ring.
    box.dataset.shownAt = String(performance.timeOrigin + performance.now());
    box.dataset.publishedAt = d.at || '';
  }
  box.hidden = false;
}

// ---- rendering ----------------------------------------------------------------------------------

function linkableCall() {
  if (S.call && S.state === 'talking') return S.call;
  return S.wrapCall;
}

function render() {
  const badge = $('state-badge');
  badge.textContent = label('state.', S.state);
  badge.className = `badge ${{ ready: 'ok', paused: 'warn', 'wrap-up': 'warn', talking: 'bad', offered: 'bad' }[S.state] || ''}`;
  badge.dataset.state = S.state;
  $('state-reason').textContent = S.reason ? label('reason.', S.reason) : '';
  const onCall = ['offered', 'dialing', 'talking'].includes(S.state);
  $('btn-ready').disabled = S.state === 'ready' || onCall || !!S.wrapCall;
  $('btn-pause').disabled = onCall || S.pauseReasons.length === 0;
  $('btn-logout-queue').disabled = onCall || S.state === 'logged-out';

  const talking = !!S.call && S.state === 'talking';
  $('call-controls').hidden = !talking;
  $('btn-hold').textContent = '';
  $('btn-hold').append(S.held ? t('desk.unhold') : t('desk.hold'), ' ', el('kbd', {}, 'F4'));
  $('btn-hold').setAttribute('aria-pressed', S.held ? 'true' : 'false');
  $('btn-transfer').disabled = S.directory.length === 0;
  const callBadge = $('call-badge');
  callBadge.hidden = !(S.call || S.wrapCall);
  callBadge.textContent = S.held ? t('desk.held') : S.call ? label('state.', S.state) : t('desk.call_ended');

  const showPop = S.pop && (S.pop.call === S.call || S.pop.call === S.wrapCall);
  $('pop').hidden = !showPop;
  $('no-call').hidden = !!showPop;
  $('wrap-line').hidden = !S.wrapCall;

  const call = linkableCall();
  const ctx = $('form-context');
  const caller = S.pop && S.pop.call === (S.call || S.wrapCall) ? S.pop.caller || t('pop.hidden') : '';
  ctx.textContent = S.call || S.wrapCall ? t('form.for_call', { caller }) : t('form.no_call');
  const channel = $('channel');
  if (S.call || S.wrapCall) {
    channel.value = 'phone';
    channel.disabled = true;
  } else {
    channel.disabled = false;
  }
  $('mode-link').disabled = !call;
  $('mode-outcome').disabled = !call;
  if (!call && S.mode !== 'new') setMode('new');
  $('btn-link').disabled = !call || !S.found;
  $('btn-outcome').disabled = !call;
  for (const b of document.querySelectorAll('#suggestion-list button')) b.disabled = !call;
  document.title = `${S.call ? '☎ ' : ''}${t('nav.desk')} · ${t('app.name')}`;
  tick();
}

function tick() {
  const now = Date.now();
  $('state-time').textContent = duration(now - S.since);
  $('call-time').textContent = S.talkingSince ? duration(now - S.talkingSince) : '';
  $('wrap-time').textContent = S.wrapSince ? duration(now - S.wrapSince) : '';
}

// ---- actions ------------------------------------------------------------------------------------

function showError(target, e) {
  if (e instanceof ApiError) {
    const f = e.fields && e.fields[0];
    target.textContent = t('error.generic', { message: f ? `${f.field}: ${f.message}` : e.message });
  } else {
    target.textContent = t('error.network');
  }
}

async function act(errorTarget, method, path, body) {
  errorTarget.textContent = '';
  try {
    return await api(method, path, body);
  } catch (e) {
    showError(errorTarget, e);
    return undefined;
  }
}

const ready = () => act($('state-error'), 'POST', '/api/v1/desk/state', { state: 'ready' });
const pause = () => act($('state-error'), 'POST', '/api/v1/desk/state', { state: 'pause', reason: $('pause-reason').value });
const endShift = () => act($('state-error'), 'POST', '/api/v1/desk/state', { state: 'logout' });
const hold = () => act($('call-error'), 'POST', '/api/v1/desk/hold', { hold: !S.held });
const transfer = () => act($('call-error'), 'POST', '/api/v1/desk/transfer', { target: $('transfer-target').value });
// The call is named, so a late click never ends the next call.
const hangup = () => S.call && act($('call-error'), 'POST', '/api/v1/desk/hangup', { call: S.call });

// ---- the appeal form ----------------------------------------------------------------------------

const FIELDS = ['last-name', 'first-name', 'patronymic', 'phone', 'email'];

function setMode(mode) {
  S.mode = mode;
  $(`mode-${mode}`).checked = true;
  $('appeal-form').hidden = mode !== 'new';
  $('link-form').hidden = mode !== 'link';
  $('outcome-form').hidden = mode !== 'outcome';
}

function resetForm() {
  $('appeal-form').reset();
  S.category = null;
  S.applicant = null;
  S.found = null;
  $('category-chosen').textContent = '';
  $('emergency-fields').hidden = true;
  $('applicant-note').textContent = '';
  clear($('link-found'));
  $('link-reg-no').value = '';
  hideSuggestions();
  clearInvalid();
  closeList();
}

function formIsEmpty() {
  return !S.category && !$('description').value.trim() && !$('street').value.trim();
}

async function prefillFromPop(d) {
  if (!formIsEmpty()) return;
  resetForm();
  setMode('new');
  const ctx = d.context || {};
  if (!ctx.applicant) {
    $('phone').value = d.caller || '';
    $('applicant-note').textContent = t('form.applicant_new');
    return;
  }
  try {
    const a = await api('GET', `/api/v1/applicants/${encodeURIComponent(ctx.applicant.id)}`);
    if (!S.pop || S.pop.call !== d.call) return;
    $('last-name').value = a.last_name || '';
    $('first-name').value = a.first_name || '';
    $('patronymic').value = a.patronymic || '';
    $('phone').value = (a.phones && a.phones[0]) || d.caller || '';
    $('email').value = a.email || '';
    if (a.address) {
      $('street').value = a.address.street || '';
      $('building').value = a.address.building || '';
      $('entrance').value = a.address.entrance || '';
      $('flat').value = a.address.flat || '';
      $('floor').value = a.address.floor ?? '';
      $('district').value = a.address.district || '';
    }
    S.applicant = { id: a.id, original: Object.fromEntries(FIELDS.map((f) => [f, $(f).value])) };
    $('applicant-note').textContent = t('form.applicant_known');
    suggestSoon();
  } catch {
    $('phone').value = d.caller || '';
  }
}

function opt(id) {
  const v = $(id).value.trim();
  return v === '' ? null : v;
}

function appealBody() {
  const address = opt('street') || opt('building')
    ? {
        street: $('street').value.trim(),
        building: $('building').value.trim(),
        entrance: opt('entrance'),
        flat: opt('flat'),
        floor: opt('floor') === null ? null : Number.parseInt(opt('floor'), 10),
        district: opt('district'),
        city: null,
        lat: null,
        lon: null,
      }
    : null;
  if (address && Number.isNaN(address.floor)) address.floor = null;
  let emergency = null;
  if ($('emergency').checked) {
    const when = new Date($('discovered-at').value);
    emergency = {
      discovered_at: Number.isNaN(when.getTime()) ? '' : when.toISOString(),
      nature: $('nature').value.trim(),
    };
  }
  const body = {
    channel: $('channel').value,
    legal_kind: $('legal-kind').value,
    questions: [{
      category_code: S.category || '',
      description: $('description').value.trim(),
      address,
      emergency,
    }],
  };
  const unchanged = S.applicant && FIELDS.every((f) => $(f).value === S.applicant.original[f]);
  if (unchanged) {
    body.applicant_id = S.applicant.id;
  } else if (FIELDS.some((f) => opt(f) !== null)) {
    body.applicant = {
      last_name: opt('last-name'),
      first_name: opt('first-name'),
      patronymic: opt('patronymic'),
      phones: opt('phone') ? [opt('phone')] : [],
      email: opt('email'),
    };
  }
  return body;
}

function clearInvalid() {
  for (const x of document.querySelectorAll('[aria-invalid="true"]')) x.removeAttribute('aria-invalid');
}

function markInvalid(fields) {
  clearInvalid();
  let first = null;
  const lines = [];
  for (const f of fields || []) {
    const name = f.field.replace(/^appeal\./, '');
    let input = null;
    for (const x of document.querySelectorAll('[data-field]')) {
      const key = x.dataset.field;
      if (name === key || name.startsWith(`${key}.`) || name.startsWith(`${key}[`)) input = x;
    }
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
      const lab = document.querySelector(`label[for="${input.id}"]`);
      lines.push(`${lab ? lab.firstChild.textContent.trim() : name}: ${f.message}`);
    } else {
      lines.push(`${name}: ${f.message}`);
    }
  }
  if (first) first.focus();
  return lines;
}

function done(text) {
  $('form-result').textContent = text;
  resetForm();
  setMode('new');
}

async function submitAppeal() {
  if (S.busy) return;
  const error = $('form-error');
  error.textContent = '';
  $('form-result').textContent = '';
  if (!S.category) {
    const lines = markInvalid([{ field: 'questions[0].category_code', message: t('form.category_required') }]);
    error.textContent = lines.join('; ');
    return;
  }
  const body = appealBody();
  const call = S.call || S.wrapCall ? linkableCall() : null;
  S.busy = true;
  try {
    if (S.call || S.wrapCall) {
      if (!call) throw new ApiError(409, { error: { code: 'not_answered', message: t('form.needs_call') } });
      const r = await api('POST', `/api/v1/desk/calls/${encodeURIComponent(call)}/link`, { appeal: body });
      done(t('form.saved_linked', { reg_no: r.registered ? r.registered.appeal.reg_no : `#${r.appeal_id}` }));
    } else {
      const r = await api('POST', '/api/v1/appeals', body);
      done(t('form.saved', { reg_no: r.appeal.reg_no }));
    }
  } catch (e) {
    if (e instanceof ApiError && e.fields.length) {
      error.textContent = `${t('form.fix_fields')}: ${markInvalid(e.fields).join('; ')}`;
    } else {
      showError(error, e);
    }
  } finally {
    S.busy = false;
  }
}

async function linkTo(appealId, regNo) {
  const call = linkableCall();
  const error = $('form-error');
  error.textContent = '';
  if (!call) {
    error.textContent = t('form.needs_call');
    return;
  }
  try {
    await api('POST', `/api/v1/desk/calls/${encodeURIComponent(call)}/link`, { appeal_id: appealId });
    done(t('form.linked', { reg_no: regNo }));
  } catch (e) {
    showError(error, e);
  }
}

async function findAppeal() {
  const box = clear($('link-found'));
  S.found = null;
  render();
  const reg = $('link-reg-no').value.trim();
  if (!reg) return;
  try {
    const a = await api('GET', `/api/v1/appeals/by-number/${encodeURIComponent(reg)}`);
    S.found = a;
    box.appendChild(el('p', {}, el('strong', {}, a.reg_no), ' · ', dateTime(a.registered_at)));
    const ul = el('ul', { class: 'plain' });
    for (const q of a.questions || []) {
      ul.appendChild(el('li', {}, `${q.number} ${categoryName(q.category_code)}: `, q.description,
        q.address ? ` — ${q.address.street} ${q.address.building}` : ''));
    }
    box.appendChild(ul);
  } catch (e) {
    box.appendChild(el('p', { class: 'error' }, e instanceof ApiError && e.status === 404 ? t('form.not_found') : t('error.network')));
  }
  render();
}

async function submitOutcome() {
  const call = linkableCall();
  const error = $('form-error');
  error.textContent = '';
  if (!call) {
    error.textContent = t('form.needs_call');
    return;
  }
  const outcome = $('outcome').value;
  try {
    await api('POST', `/api/v1/desk/calls/${encodeURIComponent(call)}/link`, { outcome });
    done(t('form.outcome_saved', { outcome: label('outcome.', outcome) }));
  } catch (e) {
    showError(error, e);
  }
}

// ---- the category search ----------------------------------------------------------------------

// The desk's feed (it acknowledges screen-pops).
let feed = null;
let active = -1;
let shown = [];

function closeList() {
  $('category-list').hidden = true;
  $('category-search').setAttribute('aria-expanded', 'false');
  $('category-search').removeAttribute('aria-activedescendant');
  active = -1;
}

function searchCategories() {
  const input = $('category-search');
  const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
  const list = clear($('category-list'));
  if (S.category && input.value !== categoryPath(S.category)) {
    S.category = null;
    $('category-chosen').textContent = '';
  }
  if (!words.length) {
    closeList();
    return;
  }
  shown = S.leaves.filter((c) => words.every((w) => c.hay.includes(w)));
  shown.sort((a, b) => Number(!a.hay.startsWith(words[0])) - Number(!b.hay.startsWith(words[0])) || a.path.localeCompare(b.path));
  shown = shown.slice(0, 12);
  shown.forEach((c, i) => {
    list.appendChild(el('li', {
      id: `cat-opt-${i}`, role: 'option', 'aria-selected': 'false', dataset: { code: c.code },
      onmousedown: (ev) => { ev.preventDefault(); chooseCategory(c.code); },
    }, c.path, c.emergency ? el('span', { class: 'badge bad' }, '!') : null));
  });
  if (!shown.length) list.appendChild(el('li', { class: 'muted', role: 'option', 'aria-disabled': 'true' }, t('form.category_none')));
  list.hidden = false;
  input.setAttribute('aria-expanded', 'true');
  highlight(shown.length ? 0 : -1);
}

function highlight(i) {
  active = i;
  const input = $('category-search');
  [...$('category-list').children].forEach((li, j) => li.setAttribute('aria-selected', j === i ? 'true' : 'false'));
  if (i >= 0) {
    input.setAttribute('aria-activedescendant', `cat-opt-${i}`);
    const li = $(`cat-opt-${i}`);
    if (li && li.scrollIntoView) li.scrollIntoView({ block: 'nearest' });
  } else {
    input.removeAttribute('aria-activedescendant');
  }
}

function chooseCategory(code) {
  S.category = code;
  $('category-search').value = categoryPath(code);
  $('category-search').removeAttribute('aria-invalid');
  $('category-chosen').textContent = t('form.category_chosen', { name: `${categoryPath(code)} (${code})` });
  const c = S.categories.get(code);
  if (c && c.is_emergency && !$('emergency').checked) {
    $('emergency').checked = true;
    emergencyToggled();
  }
  closeList();
  suggestSoon();
}

function categoryKeys(ev) {
  const list = $('category-list');
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    if (list.hidden) searchCategories();
    if (!shown.length) return;
    ev.preventDefault();
    const n = shown.length;
    highlight(ev.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n);
  } else if (ev.key === 'Enter' && !ev.ctrlKey) {
    if (!list.hidden && active >= 0 && shown[active]) {
      ev.preventDefault();
      chooseCategory(shown[active].code);
    }
  } else if (ev.key === 'Escape') {
    closeList();
  }
}

function emergencyToggled() {
  const on = $('emergency').checked;
  $('emergency-fields').hidden = !on;
  if (on && !$('discovered-at').value) {
    const now = new Date();
    now.setSeconds(0, 0);
    const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
    $('discovered-at').value = local.toISOString().slice(0, 16);
  }
}

// ---- duplicates and repeats as the operator types ----------------------------------------------

let suggestTimer = null;
let suggestSeq = 0;

function hideSuggestions() {
  $('suggestions').hidden = true;
  clear($('suggestion-list'));
}

function suggestSoon() {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 250);
}

async function suggest() {
  const street = $('street').value.trim();
  const building = $('building').value.trim();
  if (!S.category || (!(street && building) && !S.applicant)) {
    hideSuggestions();
    return;
  }
  const q = new URLSearchParams({ category_code: S.category });
  if (street && building) {
    q.set('street', street);
    q.set('building', building);
  }
  if (S.applicant) q.set('applicant_id', String(S.applicant.id));
  const mine = ++suggestSeq;
  let r;
  try {
    r = await api('GET', `/api/v1/appeals/suggestions?${q}`);
  } catch {
    return;
  }
  if (mine !== suggestSeq) return; // an older answer after a newer question
  const list = clear($('suggestion-list'));
  const items = [];
  if (r.repeat) items.push([r.repeat, t('form.repeat', { reg_no: r.repeat.reg_no })]);
  for (const s of r.duplicates || []) items.push([s, t('form.duplicate', { number: s.number })]);
  for (const [s, title] of items) {
    list.appendChild(el('li', { dataset: { appeal: s.appeal_id } },
      el('p', {}, el('strong', {}, title), ' · ', label('aq.', s.state), s.registered_at ? ` · ${dateTime(s.registered_at)}` : ''),
      el('p', { class: 'quote' }, s.description || ''),
      s.address ? el('p', { class: 'muted small' }, s.address) : null,
      el('button', { type: 'button', class: 'btn', onclick: () => linkTo(s.appeal_id, s.reg_no) }, t('form.link_this', { reg_no: s.reg_no }))));
  }
  const box = $('suggestions');
  const appeared = box.hidden && items.length > 0;
  box.hidden = items.length === 0;
  if (appeared && box.scrollIntoView) box.scrollIntoView({ block: 'nearest' });
  render();
}

// ---- keyboard -----------------------------------------------------------------------------------

function keys(ev) {
  const plain = !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey;
  if (plain) {
    const f = {
      F2: () => !$('btn-ready').disabled && ready(),
      F3: () => !$('btn-pause').disabled && pause(),
      F4: () => !$('call-controls').hidden && hold(),
      F8: () => !$('call-controls').hidden && hangup(),
      F9: () => !$('call-controls').hidden && $('transfer-target').focus(),
    }[ev.key];
    if (f) {
      ev.preventDefault();
      f();
      return;
    }
    if (ev.key === 'Enter' && document.activeElement === $('transfer-target')) {
      ev.preventDefault();
      transfer();
    }
    return;
  }
  if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
    // By key position (ev.code), so the shortcuts work in the Ukrainian layout too.
    const f = {
      KeyC: () => { setMode('new'); $('category-search').focus(); },
      KeyA: () => { setMode('new'); $('street').focus(); },
      KeyN: () => { setMode('new'); $('category-search').focus(); },
      KeyL: () => { if (!$('mode-link').disabled) { setMode('link'); $('link-reg-no').focus(); } },
      KeyO: () => { if (!$('mode-outcome').disabled) { setMode('outcome'); $('outcome').focus(); } },
    }[ev.code];
    if (f) {
      ev.preventDefault();
      f();
    }
    return;
  }
  if (ev.ctrlKey && ev.key === 'Enter') {
    ev.preventDefault();
    if (S.mode === 'new') submitAppeal();
    else if (S.mode === 'link' && S.found) linkTo(S.found.id, S.found.reg_no);
    else if (S.mode === 'outcome') submitOutcome();
  }
}

// ---- start --------------------------------------------------------------------------------------

async function loadReference() {
  try {
    const cats = await api('GET', '/api/v1/categories');
    for (const c of cats) S.categories.set(c.code, c);
    S.leaves = cats.filter((c) => c.is_leaf && c.active).map((c) => {
      const path = categoryPath(c.code);
      const other = [c.name_uk, c.name_en || ''].join(' ');
      return { code: c.code, path, emergency: c.is_emergency, hay: `${path} ${other} ${c.code}`.toLowerCase() };
    });
  } catch {
    // the search stays empty; the error shows when saving
  }
  try {
    for (const x of await api('GET', '/api/v1/executors')) S.executors.set(x.id, (lang === 'en' && x.name_en) || x.name_uk);
  } catch {
    // executors shown by number
  }
  if (S.pop) renderPop(false);
}

function wire() {
  $('btn-ready').addEventListener('click', ready);
  $('btn-pause').addEventListener('click', pause);
  $('btn-logout-queue').addEventListener('click', endShift);
  $('btn-hold').addEventListener('click', hold);
  $('btn-transfer').addEventListener('click', transfer);
  $('btn-hangup').addEventListener('click', hangup);
  for (const m of ['new', 'link', 'outcome']) $(`mode-${m}`).addEventListener('change', () => setMode(m));
  $('appeal-form').addEventListener('submit', (ev) => { ev.preventDefault(); submitAppeal(); });
  $('btn-clear').addEventListener('click', () => { resetForm(); render(); });
  $('link-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (S.found) linkTo(S.found.id, S.found.reg_no);
  });
  $('btn-find').addEventListener('click', findAppeal);
  $('link-reg-no').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.ctrlKey) {
      ev.preventDefault();
      findAppeal();
    }
  });
  $('outcome-form').addEventListener('submit', (ev) => { ev.preventDefault(); submitOutcome(); });
  $('category-search').addEventListener('input', searchCategories);
  $('category-search').addEventListener('keydown', categoryKeys);
  $('category-search').addEventListener('blur', () => setTimeout(closeList, 150));
  $('emergency').addEventListener('change', emergencyToggled);
  for (const id of ['street', 'building']) $(id).addEventListener('input', suggestSoon);
  document.addEventListener('keydown', keys);
  setInterval(tick, 1000);
}

async function start() {
  wire();
  render();
  const reference = loadReference();
  try {
    await api('GET', '/api/v1/desk');
  } catch (e) {
    const why = e instanceof ApiError && e.code === 'not_an_operator' ? t('desk.not_operator')
      : e instanceof ApiError && e.code.startsWith('telephony') ? t('feed.unavailable')
        : null;
    if (why) {
      $('state-error').textContent = why;
      $('feed-status').dataset.state = 'unavailable';
      $('feed-status').textContent = t('feed.unavailable');
      return;
    }
  }
  // The feed starts at once (a call may be on its way); names of categories and executors
  // fill in when the reference data arrives.
  reference.then(() => render());
  feed = new FeedClient({ view: 'desk', ack: 'pop', onSnapshot, onMessage, statusEl: $('feed-status') }).start();
}

start();
