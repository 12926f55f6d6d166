// The live feed (docs/websocket.md, protocol version 1) for the desk and the wall board.
//
// - The first message of a connection is a `snapshot` (render from it alone) or `resumed`
//   (the missed messages follow).
// - Every other message has the next `seq` of the user's stream. One whose `seq` was
//   already applied is dropped, so nothing is shown twice after a resume; a gap (which the
//   server never sends) makes the client start over from a fresh snapshot.
// - After a close the client reconnects with `resume=<stream>:<seq>` after 1 s, 2 s, 4 s …
//   up to 30 s; a close with 1008 (the session ended) sends the browser to the login page.
//
// The status element (optional) shows the connection to people, and carries counters for
// the browser tests in data attributes: seq, connects, resumes, snapshots, duplicates, gaps.
import { api } from './api.js';
import { t } from './i18n.js';

export const PROTOCOL = 1;

export class FeedClient {
  constructor({ view, ack, onSnapshot, onMessage, onStatus, statusEl }) {
    this.view = view;
    // 'pop': this page tells the server when it shows a screen-pop (see shown()).
    this.ack = ack || null;
    this.onSnapshot = onSnapshot || (() => {});
    this.onMessage = onMessage || (() => {});
    this.onStatus = onStatus || (() => {});
    this.statusEl = statusEl || null;
    this.stream = null;
    this.seq = null;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.stats = { connects: 0, resumes: 0, snapshots: 0, duplicates: 0, gaps: 0 };
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let u = `${scheme}://${location.host}/api/v1/feed?view=${encodeURIComponent(this.view)}`;
    if (this.ack) u += `&ack=${encodeURIComponent(this.ack)}`;
    if (this.stream !== null && this.seq !== null) {
      u += `&resume=${encodeURIComponent(this.stream)}:${this.seq}`;
    }
    return u;
  }

  // The screen-pop of `call` is on the screen: the operator's phone rings now.
  shown(call) {
    if (this.ack !== 'pop' || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ type: 'shown', call }));
  }

  connect() {
    clearTimeout(this.timer);
    this.status('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    let first = true;
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || msg.v !== PROTOCOL || typeof msg.seq !== 'number') return;
      if (first) {
        first = false;
        this.stats.connects += 1;
        this.attempt = 0;
        this.status('live');
      }
      this.receive(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 1008) {
        // The session ended (logout elsewhere, expiry, deactivation).
        api('GET', '/api/v1/auth/me').catch(() => {});
        this.status('ended');
        return;
      }
      if (first) {
        // Refused before the upgrade: a 401 sends the browser to log in (api.js does it).
        api('GET', '/api/v1/auth/me').catch(() => {});
      }
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    const secs = Math.min(30, 2 ** this.attempt);
    this.attempt += 1;
    this.status('offline', secs);
    this.timer = setTimeout(() => this.connect(), secs * 1000);
  }

  receive(msg) {
    const d = msg.data || {};
    if (msg.type === 'snapshot') {
      // A fresh start: connect, stream_changed, resume_unavailable, overflow.
      if (d.stream) this.stream = d.stream;
      this.seq = msg.seq;
      this.stats.snapshots += 1;
      this.onSnapshot(d, d.reason);
    } else if (msg.type === 'resumed') {
      if (d.stream) this.stream = d.stream;
      this.seq = msg.seq;
      this.stats.resumes += 1;
    } else if (this.seq !== null && msg.seq <= this.seq) {
      this.stats.duplicates += 1;
    } else if (this.seq !== null && msg.seq > this.seq + 1) {
      // Never sent by the server: start over from a snapshot rather than show a hole.
      this.stats.gaps += 1;
      this.stream = null;
      this.seq = null;
      if (this.ws) this.ws.close(4000, 'gap');
    } else {
      this.seq = msg.seq;
      this.onMessage(msg);
    }
    this.status(this.ws ? 'live' : 'offline');
  }

  status(state, secs) {
    this.state = state;
    const el = this.statusEl;
    if (el) {
      el.dataset.state = state;
      el.dataset.seq = this.seq === null ? '' : String(this.seq);
      for (const [k, v] of Object.entries(this.stats)) el.dataset[k] = String(v);
      const text = {
        live: t('feed.live'),
        connecting: t('feed.connecting'),
        offline: t('feed.offline', { secs: secs || 1 }),
        ended: t('feed.offline', { secs: 0 }),
      }[state];
      if (text !== undefined && el.textContent !== text) el.textContent = text;
    }
    this.onStatus(state, secs);
  }
}
