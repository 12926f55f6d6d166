// The login page: POST /api/v1/auth/login, keep the CSRF token for this tab, change a
// one-time password if the account still has one, then go where the user was going.
import { api, rememberCsrf, ApiError } from './api.js';
import { t } from './i18n.js';
import { $ } from './dom.js';

const params = new URLSearchParams(location.search);
const form = $('login-form');
const change = $('change-form');
const error = $('login-error');
let username = '';
let password = '';

if (params.get('none')) $('login-none').hidden = false;

const homes = { operator: '/desk', supervisor: '/wallboard', admin: '/wallboard' };

/** Only a local path: never another site (`//host`, `/\host`, `https:`). */
function target(role) {
  const next = params.get('next') || '';
  if (/^\/[^/\\]/.test(next) || next === '/') return next;
  return homes[role] || '/login?none=1';
}

function fail(e) {
  if (e instanceof ApiError && (e.code === 'bad_credentials' || e.status === 401)) {
    error.textContent = t('login.bad_credentials');
  } else if (e instanceof ApiError) {
    const f = e.fields && e.fields[0];
    error.textContent = t('error.generic', { message: f ? f.message : e.message });
  } else {
    error.textContent = t('error.network');
  }
}

async function login() {
  const r = await api('POST', '/api/v1/auth/login', { username, password });
  rememberCsrf(r.csrf_token);
  if (r.user.must_change_password) {
    form.hidden = true;
    change.hidden = false;
    $('new-password').focus();
    return;
  }
  location.assign(target(r.user.role));
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.textContent = '';
  username = $('username').value.trim();
  password = $('password').value;
  try {
    await login();
  } catch (e) {
    fail(e);
  }
});

change.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.textContent = '';
  const a = $('new-password').value;
  if (a !== $('new-password2').value) {
    error.textContent = t('login.mismatch');
    return;
  }
  try {
    // Changing the password ends every session, this one too: log in again with the new one.
    await api('POST', '/api/v1/auth/password', { old_password: password, new_password: a });
    password = a;
    change.hidden = true;
    form.hidden = false;
    await login();
  } catch (e) {
    fail(e);
  }
});
