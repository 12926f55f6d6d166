// The REST API from the pages: JSON in and out, the session cookie (HttpOnly, sent by the
// browser), and the CSRF token on every write.

const CSRF_KEY = 'kontakt.csrf';

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http_error';
    this.fields = e.fields || [];
  }
}

/** The CSRF token: from the login response (this tab), else the one the page was served with. */
export function csrf() {
  let token = null;
  try {
    token = sessionStorage.getItem(CSRF_KEY);
  } catch {
    token = null;
  }
  if (token) return token;
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

export function rememberCsrf(token) {
  try {
    sessionStorage.setItem(CSRF_KEY, token);
  } catch {
    // Storage disabled: the page's meta tag still has it after the next load.
  }
}

export function forgetCsrf() {
  try {
    sessionStorage.removeItem(CSRF_KEY);
  } catch {
    // nothing to forget
  }
}

/** Sends the browser to the login page, to come back here. */
export function toLogin() {
  const next = location.pathname;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** `api('POST', '/api/v1/desk/state', {state: 'ready'})` → the parsed body (null for 204). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf();
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (r.status === 401 && !path.startsWith('/api/v1/auth/login')) {
    toLogin();
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}
