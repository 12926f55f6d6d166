// Building the page from data. Text is always set as text (textContent / text nodes):
// nothing here parses HTML, so content from citizens cannot become markup.
import { lang } from './i18n.js';

/**
 * el('li', {class: 'x', dataset: {seq: 3}, onclick: f}, 'text', child, …).
 * Strings and numbers become text nodes; null/undefined/false children are skipped.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = String(v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

/** 75000 → "1:15", 3725000 → "1:02:05". */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const locale = lang === 'en' ? 'en-GB' : 'uk-UA';
const kyiv = { timeZone: 'Europe/Kyiv' };

/** An RFC 3339 time as Kyiv wall-clock time, e.g. "14:05". */
export function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(locale, { ...kyiv, hour: '2-digit', minute: '2-digit' });
}

/** An RFC 3339 time as a Kyiv date and time, e.g. "30.11.2026, 14:05". */
export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(locale, { ...kyiv, dateStyle: 'short', timeStyle: 'short' });
}
