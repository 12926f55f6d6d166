// Shared helpers of the browser scenarios. A scenario is started by the Rust test
// (crates/kontakt-web/tests/browser.rs) with KONTAKT_URL, KONTAKT_CHROMIUM, KONTAKT_PASSWORD
// and KONTAKT_ARTIFACTS; it asks the test for calls with one JSON line on stdout and reads
// the answer from stdin. Logs go to stderr. The last stdout line is {"cmd": "result", …}.
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const URL = process.env.KONTAKT_URL;
export const PASSWORD = process.env.KONTAKT_PASSWORD;
export const ARTIFACTS = process.env.KONTAKT_ARTIFACTS || 'target/browser-artifacts';
/** How long any one wait may take. */
export const WAIT = 20_000;

const answers = [];
const waiting = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  const v = JSON.parse(line);
  const w = waiting.shift();
  if (w) w(v);
  else answers.push(v);
});

/** Asks the Rust side: {cmd: 'call', caller} → {uuid}; {cmd: 'hangup_caller', uuid} → {ok}. */
export function rpc(req) {
  process.stdout.write(`${JSON.stringify(req)}\n`);
  return new Promise((resolve) => {
    const a = answers.shift();
    if (a) resolve(a);
    else waiting.push(resolve);
  });
}

export function result(obj) {
  process.stdout.write(`${JSON.stringify({ cmd: 'result', ...obj })}\n`);
}

export function log(...args) {
  console.error('[browser]', ...args);
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

export async function step(name, f) {
  log(`— ${name}`);
  try {
    return await f();
  } catch (e) {
    e.message = `${name}: ${e.message}`;
    throw e;
  }
}

export async function launch() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.KONTAKT_CHROMIUM,
    headless: true,
    // Root in a container: chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/**
 * A person's browser at 1366×768. Every page error, failed request of our own origin and
 * console error (CSP violations are console errors) is collected; `problems()` lists them.
 */
export async function person(browser, name) {
  const context = await browser.newContext({
    viewport: { width: 1366, height: 768 },
    locale: 'uk-UA',
    timezoneId: 'Europe/Kyiv',
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console: ${m.text()}`);
  });
  page.setDefaultTimeout(WAIT);
  return { context, page, name, problems };
}

/** Opens `path`, is sent to the login page, logs in, and lands back on `path`. */
export async function login(p, username, path) {
  const { page } = p;
  await page.goto(`${URL}${path}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel(/Ім'я користувача|Username/).fill(username);
  await page.getByLabel(/^Пароль$|^Password$/).fill(PASSWORD);
  await page.getByRole('button', { name: /Увійти|Log in/ }).click();
  await page.waitForURL(`${URL}${path}`);
}

export async function screenshot(page, name) {
  const file = join(ARTIFACTS, name);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
}

/** The page shows `text` literally and nothing in it became markup or ran. */
export async function shownAsText(page, selector, text) {
  const shown = await page.locator(selector).first().textContent();
  assert(shown && shown.includes(text), `${selector} should show ${JSON.stringify(text)} as text, shows ${JSON.stringify(shown)}`);
  const pwned = await page.evaluate(() => ({
    flag: window.__pwned,
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].filter((s) => s.textContent.includes('__pwned')).length,
  }));
  assert(pwned.flag === undefined && pwned.imgs === 0 && pwned.scripts === 0, `injected markup in the page: ${JSON.stringify(pwned)}`);
}

/** Every form control in <main> has a label a screen reader announces. */
export async function labelled(page) {
  const missing = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea')]
    .filter((x) => x.type !== 'hidden' && !(x.labels && x.labels.length) && !x.getAttribute('aria-label') && !x.getAttribute('aria-labelledby'))
    .map((x) => x.id || x.name || x.outerHTML.slice(0, 60)));
  assert(missing.length === 0, `controls without a label: ${missing.join(', ')}`);
}

/** Nothing sticks out sideways at 1366×768. */
export async function fits(page) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert(w <= 1366, `the page is ${w}px wide at 1366×768`);
}
