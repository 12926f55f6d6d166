// The page's words, written into the page by the server (pages/i18n.rs) with the same keys.
const block = document.getElementById('kontakt-i18n');
let strings = {};
try {
  strings = JSON.parse(block ? block.textContent : '{}');
} catch {
  strings = {};
}

export const lang = document.documentElement.lang || 'uk';

/** The string for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  if (vars) {
    for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  }
  return s;
}

/** Whether the page has a string for `key` (for optional labels, e.g. a pause reason). */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(strings, key);
}
