// The supervisors' wall board (pages/wallboard.rs renders the frame and the configuration).
// Live from the feed (view=wallboard): a snapshot to start from, then each agent and call
// as it changes and the queue statistics every 0.8 s. Everything a citizen supplied (caller
// numbers) and every name is set as text.
//
// Never silently stale: a ticker checks the age of the last feed message; past the
// configured limit (1.5 s; statistics come every 0.8 s) a banner says "disconnected, last
// update hh:mm:ss" and the figures are greyed; a socket silent for 3 s is closed so the feed
// client resumes on a new one.
import { api } from './api.js';
import { FeedClient } from './feed.js';
import { t, has, lang } from './i18n.js';
import { el, clear, $, duration } from './dom.js';

const CONFIG = readConfig();
const TH = thresholds(CONFIG.thresholds || {});
const TV_KEY = 'kontakt.wallboard.tv';
const INTRADAY_EVERY_MS = 30_000;

const S = {
  stats: null, // the router's statistics, from the snapshot or the latest `stats` message
  statsAt: 0, // when it arrived (ms, local clock)
  agents: new Map(), // user_id → AgentView
  calls: new Map(), // uuid → LiveCallView
  queueNames: (CONFIG.queues || []).map((q) => q.name),
  lastMessage: 0, // local ms of the last feed message
  liveSince: 0, // when the current connection delivered its first message
  renderedAt: 0,
  feedState: null,
  today: new Map(), // user_id → calls answered today (from the records)
  intraday: null,
  dialogAgent: null,
  dialogCall: null,
};

function readConfig() {
  const block = document.getElementById('wallboard-config');
  try {
    return JSON.parse(block ? block.textContent : '{}') || {};
  } catch {
    return {};
  }
}

// ---- thresholds ------------------------------------------------------------------------------

/** The defaults, with `?key=amber,red` from the page's address taking precedence. */
function thresholds(defaults) {
  const out = {};
  const params = new URLSearchParams(location.search);
  for (const [key, d] of Object.entries(defaults)) {
    const th = { amber: Number(d.amber), red: Number(d.red), unit: d.unit, lower: d.worse === 'lower' };
    const asked = params.get(key);
    if (asked) {
      const [a, r] = asked.split(',').map((x) => Number(x.trim()));
      const ordered = th.lower ? a >= r : a <= r;
      if (Number.isFinite(a) && Number.isFinite(r) && ordered) {
        th.amber = a;
        th.red = r;
      }
    }
    out[key] = th;
  }
  return out;
}

/** 'red', 'amber' or '' for `value` (in the threshold's unit) of figure `key`. */
function level(key, value) {
  const th = TH[key];
  if (!th || value === null || value === undefined || Number.isNaN(value)) return '';
  if (th.lower) return value <= th.red ? 'red' : value <= th.amber ? 'amber' : '';
  return value >= th.red ? 'red' : value >= th.amber ? 'amber' : '';
}

function showThresholds() {
  for (const cell of document.querySelectorAll('#thresholds td[data-th]')) {
    const th = TH[cell.dataset.th];
    if (th) cell.textContent = String(th[cell.dataset.level]);
  }
}

// ---- formatting ------------------------------------------------------------------------------

const locale = lang === 'en' ? 'en-GB' : 'uk-UA';

function clockSecs(ms) {
  return new Date(ms).toLocaleTimeString(locale, {
    timeZone: 'Europe/Kyiv', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

function hhmm(ms) {
  return new Date(ms).toLocaleTimeString(locale, { timeZone: 'Europe/Kyiv', hour: '2-digit', minute: '2-digit' });
}

function pct(x) {
  return x === null || x === undefined ? '—' : `${Math.round(x * 1000) / 10}%`;
}

function secs(ms) {
  return ms === null || ms === undefined ? '—' : duration(ms);
}

function label(prefix, value) {
  if (value === null || value === undefined || value === '') return '';
  return has(prefix + value) ? t(prefix + value) : String(value);
}

function caller(c) {
  return c && c.caller ? c.caller : t('wb.hidden');
}

function since(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Date.now() : ms;
}

/** A figure cell: the value, and its level as a class and in words for screen readers. */
function figure(name, value, key, raw, note) {
  const lv = level(key, raw);
  return el('div', { class: `kpi ${lv}`, dataset: { figure: name, level: lv || 'ok' } },
    el('span', { class: 'kpi-label' }, t(`wb.${name}`)),
    el('span', { class: 'kpi-value' }, value,
      lv ? el('span', { class: 'kpi-flag', 'aria-hidden': 'true' }, lv === 'red' ? ' ■' : ' ▲') : null,
      lv ? el('span', { class: 'sr-only' }, ` (${t(`wb.level.${lv}`)})`) : null),
    note ? el('span', { class: 'kpi-note' }, note) : null);
}

// ---- queues ----------------------------------------------------------------------------------

function queueSetup(name) {
  return (CONFIG.queues || []).find((q) => q.name === name) || null;
}

/** Milliseconds the longest waiting call has waited now: the latest statistics', plus their age. */
function longestNow(q) {
  if (!q.longest_wait_ms || q.waiting - (q.waiting_callbacks || 0) <= 0) return q.longest_wait_ms || 0;
  return q.longest_wait_ms + Math.max(0, Date.now() - S.statsAt);
}

function queueTile(name, q, callbacks, setup) {
  const c = q.counters || {};
  const sl = q.service_level;
  const conv = setup ? t(setup.convention, { t: setup.sl_threshold_secs, short: setup.short_abandon_secs }) : '';
  const longest = longestNow(q);
  return el('section', { class: 'tile queue', 'aria-label': name, dataset: { queue: name } },
    el('h3', {}, name),
    el('div', { class: 'kpis' },
      figure('waiting', String(q.waiting - (q.waiting_callbacks || 0)), 'waiting', q.waiting - (q.waiting_callbacks || 0)),
      figure('longest_wait', secs(longest), 'longest_wait', longest / 1000),
      figure('service_level', pct(sl), 'service_level', sl === null || sl === undefined ? null : sl * 100, conv),
      figure('asa', secs(q.asa_ms), 'asa', q.asa_ms === null ? null : q.asa_ms / 1000),
      figure('aht', secs(q.aht_ms), 'aht', q.aht_ms === null ? null : q.aht_ms / 1000),
      figure('abandon_rate', pct(q.abandon_rate), 'abandon_rate', q.abandon_rate === null || q.abandon_rate === undefined ? null : q.abandon_rate * 100,
        t('wb.answered_abandoned', { answered: c.answered || 0, abandoned: c.abandoned || 0 })),
      figure('callbacks', String(callbacks), 'callbacks', callbacks)));
}

function renderQueues() {
  const box = $('queues');
  const stats = S.stats;
  if (!stats) return;
  const tiles = [];
  let callbacks = 0;
  for (const q of stats.queues || []) {
    callbacks += q.waiting_callbacks || 0;
    tiles.push(queueTile(q.name, q, q.waiting_callbacks || 0, queueSetup(q.name)));
  }
  if ((stats.queues || []).length > 1 && stats.overall) {
    const o = { ...stats.overall, waiting_callbacks: callbacks };
    tiles.unshift(queueTile(t('wb.all_queues'), o, callbacks, null));
    tiles[0].classList.add('overall');
  }
  clear(box).append(...tiles);
}

// ---- operators -------------------------------------------------------------------------------

function statsAgent(userId) {
  return ((S.stats && S.stats.agents) || []).find((a) => a.id === userId) || null;
}

function stateLevel(a, ms) {
  const key = { paused: 'paused', 'wrap-up': 'wrap_up', talking: 'talking' }[a.state];
  return key ? level(key, ms / 1000) : '';
}

function agentRow(a) {
  const inState = Date.now() - since(a.since);
  const lv = stateLevel(a, inState);
  const call = a.call ? S.calls.get(a.call) : null;
  const st = statsAgent(a.user_id);
  const pending = st && st.pending ? t('wb.pending', { what: pendingLabel(st.pending) }) : '';
  const stateCell = el('td', {},
    el('span', { class: `badge state-${a.state}` }, label('state.', a.state)),
    a.reason ? el('span', { class: 'reason' }, ` ${label('reason.', a.reason)}`) : null,
    pending ? el('span', { class: 'muted small' }, ` ${pending}`) : null);
  const callCell = el('td', {});
  if (call) {
    callCell.append(el('span', { class: 'caller' }, caller(call)), ' ',
      el('span', { class: 'muted' }, `${label('wb.phase.', call.phase)} ${duration(Date.now() - since(call.since))}`));
  } else if (a.call && a.state !== 'wrap-up') {
    // The agent's change came before the call's: the call's own message follows.
    callCell.append(el('span', { class: 'muted' }, '…'));
  }
  const today = S.today.has(a.user_id) ? S.today.get(a.user_id) : 0;
  const btn = el('button', {
    type: 'button',
    class: 'btn small-btn',
    'aria-label': t('wb.change_state_of', { name: a.username }),
    onclick: () => openStateDialog(a),
  }, t('wb.change_state'));
  return el('tr', { dataset: { agent: a.user_id, state: a.state } },
    el('th', { scope: 'row' }, a.username),
    stateCell,
    el('td', { class: `num ${lv}`, dataset: { level: lv || 'ok' } }, duration(inState),
      lv ? el('span', { class: 'sr-only' }, ` (${t(`wb.level.${lv}`)})`) : null),
    callCell,
    el('td', { class: 'num', dataset: { today: '' } }, String(today)),
    el('td', { class: 'act' }, btn));
}

function pendingLabel(p) {
  if (p.startsWith('pause:')) return `${t('desk.pause')} (${label('reason.', p.slice(6))})`;
  if (p === 'logout') return t('desk.logout_queue');
  return p;
}

const STATE_ORDER = ['talking', 'offered', 'dialing', 'wrap-up', 'ready', 'delayed', 'paused', 'logged-out'];

function renderAgents() {
  const body = $('agents').tBodies[0];
  const list = [...S.agents.values()].sort((a, b) => {
    const d = STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state);
    return d !== 0 ? d : a.username.localeCompare(b.username);
  });
  // Keep the focused button where it was: rebuild rows, then restore focus by agent.
  const focused = document.activeElement && document.activeElement.closest('tr[data-agent]');
  const focusId = focused && $('agents').contains(focused) ? focused.dataset.agent : null;
  clear(body).append(...list.map(agentRow));
  if (focusId) {
    const b = body.querySelector(`tr[data-agent="${CSS.escape(focusId)}"] button`);
    if (b) b.focus();
  }
  const loggedIn = list.filter((a) => a.state !== 'logged-out').length;
  $('agents-count').textContent = `(${loggedIn}/${list.length})`;
}

// ---- live calls ------------------------------------------------------------------------------

const PHASE_ORDER = ['queued', 'callback', 'ringing', 'talking', 'ivr'];

function eavesdropButtons(c) {
  const modes = ['listen', 'whisper', 'barge'];
  return modes.map((mode) => el('button', {
    type: 'button',
    class: `btn small-btn ${mode}`,
    dataset: { mode },
    disabled: !CONFIG.has_phone,
    title: CONFIG.has_phone ? null : t('wb.no_phone'),
    'aria-label': t('wb.mode_label', { mode: t(`wb.${mode}`), caller: caller(c) }),
    onclick: () => eavesdrop(c, mode),
  }, t(`wb.${mode}`)));
}

function callRow(c) {
  const age = Date.now() - since(c.since);
  const waiting = c.phase === 'queued';
  const lv = waiting ? level('longest_wait', age / 1000) : c.phase === 'talking' ? level('talking', age / 1000) : '';
  const agent = c.agent !== null && c.agent !== undefined ? S.agents.get(c.agent) : null;
  const actions = el('td', { class: 'act' });
  if (c.phase === 'talking') actions.append(...eavesdropButtons(c));
  if (waiting || c.phase === 'callback') {
    actions.append(el('button', {
      type: 'button',
      class: 'btn small-btn',
      'aria-label': t('wb.manage_call_of', { caller: caller(c) }),
      onclick: () => openCallDialog(c),
    }, t('wb.manage_call')));
  }
  return el('tr', { dataset: { call: c.call, phase: c.phase } },
    el('th', { scope: 'row', class: 'caller' }, caller(c),
      c.line ? el('span', { class: 'muted small' }, ` ${c.line}`) : null),
    el('td', {}, c.queue || '—',
      c.priority ? el('span', { class: 'badge prio' }, ` ${t('wb.priority', { n: c.priority })}`) : null),
    el('td', {}, label('wb.phase.', c.phase)),
    el('td', { class: `num ${lv}`, dataset: { level: lv || 'ok' } }, duration(age),
      lv ? el('span', { class: 'sr-only' }, ` (${t(`wb.level.${lv}`)})`) : null),
    el('td', {}, agent ? agent.username : ''),
    actions);
}

function renderCalls() {
  const body = $('calls').tBodies[0];
  const list = [...S.calls.values()].sort((a, b) => {
    const d = PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase);
    if (d !== 0) return d;
    if (a.phase === 'queued' && a.priority !== b.priority) return b.priority - a.priority;
    return since(a.since) - since(b.since);
  });
  const focused = document.activeElement && document.activeElement.closest('tr[data-call]');
  const focus = focused && $('calls').contains(focused)
    ? { call: focused.dataset.call, mode: document.activeElement.dataset.mode || null }
    : null;
  clear(body).append(...list.map(callRow));
  if (focus) {
    const row = body.querySelector(`tr[data-call="${CSS.escape(focus.call)}"]`);
    const b = row && (focus.mode ? row.querySelector(`button[data-mode="${focus.mode}"]`) : row.querySelector('button'));
    if (b) b.focus();
  }
  $('calls-empty').hidden = list.length > 0;
  $('calls-count').textContent = `(${list.length})`;
}

// ---- intraday chart --------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

function niceMax(n) {
  if (n <= 4) return 4;
  const steps = [5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
  for (const s of steps) if (n <= s) return s;
  return Math.ceil(n / 1000) * 1000;
}

function drawChart(d) {
  const box = $('chart');
  const buckets = d.buckets || [];
  // Drawn at the box's own pixel size, so text is never stretched; redrawn on resize.
  const W = Math.max(300, Math.round(box.clientWidth || 1200));
  const H = Math.max(80, Math.round(box.clientHeight || 120));
  const left = 34;
  const bottom = 18;
  const top = 6;
  const plotW = W - left - 4;
  const plotH = H - bottom - top;
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.offered)));
  const bw = buckets.length ? plotW / buckets.length : plotW;
  const y = (v) => top + plotH - (v / max) * plotH;
  const totals = t('wb.chart_totals', { offered: d.offered, answered: d.answered, abandoned: d.abandoned });
  const titleId = 'chart-svg-title';
  const descId = 'chart-svg-desc';
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`,
    width: W, height: H, class: 'intraday',
  },
  svg('title', { id: titleId }, t('wb.chart')),
  svg('desc', { id: descId }, t('wb.chart_summary', { totals })));
  for (const v of [0, max / 2, max]) {
    root.append(svg('line', { x1: left, x2: W - 4, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: left - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  buckets.forEach((b, i) => {
    const x = left + i * bw;
    const start = Date.parse(b.start);
    const g = svg('g', { class: 'bar', 'data-i': i, 'data-offered': b.offered, 'data-answered': b.answered, 'data-abandoned': b.abandoned },
      svg('title', {}, t('wb.chart_bar', {
        from: hhmm(start), to: hhmm(start + d.bucket_secs * 1000),
        offered: b.offered, answered: b.answered, abandoned: b.abandoned,
      })));
    const w = Math.max(1, bw - 1);
    const other = Math.max(0, b.offered - b.answered - b.abandoned);
    let base = 0;
    for (const [cls, n] of [['answered', b.answered], ['abandoned', b.abandoned], ['other', other]]) {
      if (n > 0) {
        g.append(svg('rect', { x, width: w, y: y(base + n), height: y(base) - y(base + n), class: cls }));
        base += n;
      }
    }
    if (b.offered === 0) g.append(svg('rect', { x, width: w, y: top, height: plotH, class: 'hit' }));
    root.append(g);
    // An hour label every 3 hours (at the local hour's first quarter).
    const local = new Date(start).toLocaleTimeString('en-GB', { timeZone: 'Europe/Kyiv', hour: '2-digit', minute: '2-digit' });
    if (local.endsWith(':00') && Number(local.slice(0, 2)) % 3 === 0) {
      root.append(svg('text', { x, y: H - 4, class: 'axis' }, local.slice(0, 5)));
    }
  });
  const from = Date.parse(d.from);
  const to = Date.parse(d.to);
  const now = Date.now();
  if (now >= from && now < to) {
    const x = left + ((now - from) / (to - from)) * plotW;
    root.append(svg('line', { x1: x, x2: x, y1: top, y2: top + plotH, class: 'now' }));
  }
  clear(box).append(root);
  $('chart-totals').textContent = totals;
}

let intradayTimer = null;
let intradayInFlight = false;

async function loadIntraday() {
  clearTimeout(intradayTimer);
  if (intradayInFlight) return;
  intradayInFlight = true;
  lastLoad = Date.now();
  try {
    const d = await api('GET', '/api/v1/wallboard/intraday');
    S.intraday = d;
    S.today = new Map((d.agents || []).map((a) => [a.user_id, a.answered]));
    $('chart-error').textContent = '';
    drawChart(d);
    renderAgents();
  } catch (e) {
    $('chart-error').textContent = t('wb.chart_failed', { message: e.message || String(e) });
  } finally {
    intradayInFlight = false;
    intradayTimer = setTimeout(loadIntraday, INTRADAY_EVERY_MS);
  }
}

/**
 * After a call reaches a queue or ends (its record is written in the background), reload
 * shortly after; under load at most every 10 s, so a busy center's wall screens do not read
 * the day's records many times a second.
 */
let soonTimer = null;
let lastLoad = 0;
function intradaySoon() {
  if (soonTimer !== null) return;
  const wait = Math.max(1500, 10_000 - (Date.now() - lastLoad));
  soonTimer = setTimeout(() => {
    soonTimer = null;
    loadIntraday();
  }, wait);
}

// ---- the feed --------------------------------------------------------------------------------

function touched() {
  S.lastMessage = Date.now();
  $('wb-updated').textContent = clockSecs(S.lastMessage);
  $('wb-updated').setAttribute('datetime', new Date(S.lastMessage).toISOString());
  staleness();
}

function onSnapshot(d) {
  S.stats = d.stats || null;
  S.statsAt = Date.now();
  S.agents = new Map((d.agents || []).map((a) => [a.user_id, a]));
  S.calls = new Map((d.calls || []).map((c) => [c.call, c]));
  if (Array.isArray(d.queue_names) && d.queue_names.length) S.queueNames = d.queue_names;
  touched();
  renderAll();
}

function onMessage(msg) {
  const d = msg.data || {};
  if (msg.type === 'stats' && d.stats) {
    S.stats = d.stats;
    S.statsAt = Date.now();
    renderSoon();
  } else if (msg.type === 'agent' && d.user_id !== undefined) {
    S.agents.set(d.user_id, { ...S.agents.get(d.user_id), ...d });
    renderSoon();
  } else if (msg.type === 'call' && d.call) {
    const before = S.calls.get(d.call);
    // A call that reaches a queue is offered: the chart counts it.
    if (d.phase === 'queued' && (!before || before.phase !== 'queued')) intradaySoon();
    S.calls.set(d.call, d);
    renderSoon();
  } else if (msg.type === 'call_gone' && d.call) {
    S.calls.delete(d.call);
    if (S.dialogCall && S.dialogCall.call === d.call && $('dlg-call').open) {
      $('dlg-call-error').textContent = t('wb.gone');
    }
    renderSoon();
    intradaySoon();
  }
  touched();
}

function renderAll() {
  renderQueues();
  renderAgents();
  renderCalls();
  S.renderedAt = Date.now();
}

// Under load the feed brings many changes a second: they are drawn together, at most every
// 100 ms, instead of redrawing the tables for each.
let renderTimer = null;
function renderSoon() {
  if (renderTimer !== null) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    renderAll();
  }, 100);
}

/** Shows (or hides) the staleness banner; true when the figures are stale. */
function staleness() {
  const limit = CONFIG.stale_after_ms || 1500;
  const reconnect = CONFIG.reconnect_after_ms || 3000;
  const age = Date.now() - S.lastMessage;
  const live = feed && feed.state === 'live';
  const stale = !S.lastMessage || age > limit || !live;
  const banner = $('wb-stale');
  if (stale) {
    const text = S.lastMessage ? t('wb.stale', { time: clockSecs(S.lastMessage) }) : t('wb.stale_never');
    if (banner.textContent !== text) banner.textContent = text;
  }
  // The first connection gets a grace period before it counts as a failure.
  const show = stale && (S.lastMessage || Date.now() - started > limit);
  banner.hidden = !show;
  document.body.classList.toggle('stale', Boolean(show));
  // A socket that says nothing is as good as dead: make the client reconnect (with resume).
  // A fresh connection gets its own grace period before its first snapshot.
  if (live && Date.now() - Math.max(S.lastMessage, S.liveSince) > reconnect && feed.ws) {
    try {
      feed.ws.close(4001, 'stale');
    } catch {
      // already closing
    }
  }
  return stale;
}

// ---- actions ---------------------------------------------------------------------------------

function say(text) {
  $('wb-error').textContent = '';
  $('wb-message').textContent = text;
}

function fail(e, where) {
  const msg = t('error.generic', { message: (e && e.message) || String(e) });
  (where || $('wb-error')).textContent = msg;
}

async function eavesdrop(c, mode) {
  try {
    await api('POST', `/api/v1/wallboard/calls/${encodeURIComponent(c.call)}/eavesdrop`, { mode });
    say(t('wb.eavesdrop_started', { mode: t(`wb.${mode}`), caller: caller(c) }));
  } catch (e) {
    fail(e);
  }
}

function fillReasons() {
  const sel = $('force-reason');
  clear(sel);
  for (const r of CONFIG.pause_reasons || []) sel.append(el('option', { value: r }, label('reason.', r)));
}

function syncReason() {
  const pause = $('force-state').value === 'pause';
  $('force-reason').disabled = !pause;
  $('force-reason').closest('form').querySelector('label[for="force-reason"]').classList.toggle('muted', !pause);
}

function openStateDialog(a) {
  S.dialogAgent = a;
  $('dlg-state-who').textContent = a.username;
  $('dlg-state-error').textContent = '';
  $('force-state').value = 'pause';
  syncReason();
  $('dlg-state').showModal();
  $('force-state').focus();
}

async function submitState(ev) {
  ev.preventDefault();
  const a = S.dialogAgent;
  if (!a) return;
  const state = $('force-state').value;
  const body = state === 'pause' ? { state, reason: $('force-reason').value } : { state };
  const btn = $('force-submit');
  btn.disabled = true;
  try {
    await api('POST', `/api/v1/wallboard/agents/${encodeURIComponent(a.user_id)}/state`, body);
    $('dlg-state').close();
    const shown = state === 'pause' ? `${t('desk.pause')} (${label('reason.', body.reason)})` : label('state.', state === 'logout' ? 'logged-out' : 'ready');
    say(t('wb.forced', { name: a.username, state: shown }));
  } catch (e) {
    fail(e, $('dlg-state-error'));
  } finally {
    btn.disabled = false;
  }
}

function openCallDialog(c) {
  S.dialogCall = c;
  $('dlg-call-who').textContent = caller(c);
  $('dlg-call-error').textContent = '';
  const sel = $('move-queue');
  clear(sel);
  for (const q of S.queueNames) if (q !== c.queue) sel.append(el('option', { value: q }, q));
  $('move-submit').disabled = sel.options.length === 0;
  $('call-priority').value = String(Math.min(255, (c.priority || 0) + 1));
  $('dlg-call').showModal();
  (sel.options.length ? sel : $('call-priority')).focus();
}

async function moveCall() {
  const c = S.dialogCall;
  const queue = $('move-queue').value;
  if (!c || !queue) return;
  try {
    await api('POST', `/api/v1/wallboard/calls/${encodeURIComponent(c.call)}/queue`, { queue });
    $('dlg-call').close();
    say(t('wb.moved', { caller: caller(c), queue }));
  } catch (e) {
    fail(e, $('dlg-call-error'));
  }
}

async function setPriority() {
  const c = S.dialogCall;
  const n = Number($('call-priority').value);
  if (!c) return;
  if (!Number.isInteger(n) || n < 0 || n > 255) {
    $('call-priority').setAttribute('aria-invalid', 'true');
    $('dlg-call-error').textContent = t('wb.priority_label');
    return;
  }
  $('call-priority').removeAttribute('aria-invalid');
  try {
    await api('POST', `/api/v1/wallboard/calls/${encodeURIComponent(c.call)}/priority`, { priority: n });
    $('dlg-call').close();
    say(t('wb.priority_set', { caller: caller(c), n }));
  } catch (e) {
    fail(e, $('dlg-call-error'));
  }
}

// ---- large type (TV) ---------------------------------------------------------------------------

function setTv(on) {
  document.body.classList.toggle('tv', on);
  if (S.intraday) drawChart(S.intraday);
  $('wb-tv').setAttribute('aria-pressed', on ? 'true' : 'false');
  try {
    localStorage.setItem(TV_KEY, on ? '1' : '0');
  } catch {
    // storage disabled: the switch still works for this page
  }
}

function initialTv() {
  const p = new URLSearchParams(location.search).get('tv');
  if (p === '1' || p === '0') return p === '1';
  try {
    return localStorage.getItem(TV_KEY) === '1';
  } catch {
    return false;
  }
}

// ---- start -------------------------------------------------------------------------------------

const started = Date.now();
let feed = null;

function tick() {
  staleness();
  // Times in state, waits and durations move every second, also between statistics.
  if (S.stats && Date.now() - S.renderedAt >= 900) renderAll();
}

function init() {
  showThresholds();
  fillReasons();
  setTv(initialTv());
  $('wb-tv').addEventListener('click', () => setTv(!document.body.classList.contains('tv')));
  $('force-state').addEventListener('change', syncReason);
  $('form-state').addEventListener('submit', submitState);
  $('force-cancel').addEventListener('click', () => $('dlg-state').close());
  $('move-submit').addEventListener('click', moveCall);
  $('priority-submit').addEventListener('click', setPriority);
  $('call-close').addEventListener('click', () => $('dlg-call').close());
  $('form-call').addEventListener('submit', (ev) => ev.preventDefault());
  // The rows are redrawn every second: give the focus back to the redrawn button.
  $('dlg-state').addEventListener('close', () => {
    const a = S.dialogAgent;
    const b = a && document.querySelector(`#agents tr[data-agent="${CSS.escape(String(a.user_id))}"] button`);
    if (b) b.focus();
  });
  $('dlg-call').addEventListener('close', () => {
    const c = S.dialogCall;
    const b = c && document.querySelector(`#calls tr[data-call="${CSS.escape(c.call)}"] button`);
    if (b) b.focus();
  });
  window.addEventListener('resize', () => {
    if (S.intraday) drawChart(S.intraday);
  });
  loadIntraday();
  if (!CONFIG.telephony) {
    $('wb-no-telephony').hidden = false;
    $('feed-status').hidden = true;
    return;
  }
  feed = new FeedClient({
    view: 'wallboard',
    statusEl: $('feed-status'),
    onSnapshot,
    onMessage,
    onStatus: (state) => {
      if (state === 'live' && S.feedState !== 'live') S.liveSince = Date.now();
      S.feedState = state;
      staleness();
    },
  }).start();
  window.kontaktWallboard = { feed, state: S };
  setInterval(tick, 1000);
  setInterval(staleness, 250);
}

init();
