// The desk in a real browser (issue 6): an operator logs in, goes ready, gets a call whose
// screen-pop is on the page before the phone rings, registers an appeal with a category, an
// address and the emergency flag during the call, hangs up and leaves wrap-up; a second
// operator links the same citizen's repeat call to that appeal from the duplicates the form
// suggests; the feed is dropped mid-call and resumed with nothing missed and nothing shown
// twice; what citizens typed shows as text everywhere.
import {
  PASSWORD, URL, assert, fits, labelled, launch, log, login, person, result, rpc, screenshot, shownAsText, step,
} from './lib.mjs';

const INJECT = process.env.KONTAKT_INJECT || '<img src=x onerror="window.__pwned=1">';
const CALLER = '0501234567';

const badge = (page) => page.locator('#state-badge');

async function waitState(page, ...states) {
  await page.waitForFunction((s) => s.includes(document.getElementById('state-badge').dataset.state), states);
  return page.locator('#state-badge').getAttribute('data-state');
}

async function feedLive(page) {
  await page.waitForFunction(() => document.getElementById('feed-status').dataset.state === 'live');
}

/**
 * Waits for the screen-pop of `call`: when the page put it on screen (ms since the epoch, the
 * same clock as the emulator's) and when the engine published it.
 */
async function popOf(page, call) {
  await page.waitForFunction((c) => {
    const p = document.getElementById('pop');
    return p.dataset.call === c && !p.hidden;
  }, call);
  return {
    call,
    shown_at_ms: Number(await page.locator('#pop').getAttribute('data-shown-at')),
    published_at: await page.locator('#pop').getAttribute('data-published-at'),
  };
}

async function eventsOf(page) {
  return page.$$eval('#events li', (lis) => lis.map((li) => ({ seq: Number(li.dataset.seq), type: li.dataset.type, call: li.dataset.call })));
}

async function chooseCategory(page, typed, code) {
  await page.keyboard.press('Alt+KeyC');
  assert(await page.evaluate(() => document.activeElement.id) === 'category-search', 'Alt+C focuses the category search');
  await page.keyboard.type(typed);
  await page.locator(`#category-list li[data-code="${code}"]`).waitFor();
  // Arrow down to it, Enter to take it: the list is keyboard-driven.
  for (let i = 0; i < 12; i += 1) {
    const active = await page.locator('#category-list li[aria-selected="true"]').getAttribute('data-code');
    if (active === code) break;
    await page.keyboard.press('ArrowDown');
  }
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('category-chosen').textContent.length > 0);
  const chosen = await page.locator('#category-chosen').textContent();
  assert(chosen.includes(code), `category chosen: ${chosen}`);
}

async function main() {
  const browser = await launch();
  const pops = [];
  const people = [];
  try {
    const a = await person(browser, 'olena');
    const b = await person(browser, 'ivan');
    people.push(a, b);

    // ivan's feed goes through a relay the test controls, to drop it mid-call.
    const relay = { page: null, server: null, blocked: false, last: null, connects: 0 };
    await b.page.routeWebSocket(/\/api\/v1\/feed/, (ws) => {
      if (relay.blocked) {
        ws.close({ code: 4002, reason: 'the test keeps the feed down' });
        return;
      }
      relay.connects += 1;
      const server = ws.connectToServer();
      relay.page = ws;
      relay.server = server;
      server.onMessage((m) => {
        relay.last = m;
        ws.send(m);
      });
    });

    await step('both operators log in through the login page', async () => {
      await login(a, 'olena', '/desk');
      await login(b, 'ivan', '/desk');
      await feedLive(a.page);
      await feedLive(b.page);
      assert(await badge(a.page).getAttribute('data-state') === 'logged-out', 'olena starts logged out');
      await labelled(a.page);
      await fits(a.page);
    });

    let first;
    await step('olena goes ready and gets the call; the screen-pop comes first', async () => {
      await a.page.getByRole('button', { name: /Готовий/ }).click();
      await waitState(a.page, 'ready');
      first = (await rpc({ cmd: 'call', caller: CALLER })).uuid;
      pops.push(await popOf(a.page, first));
      assert((await a.page.locator('#pop-caller').textContent()) === '+380501234567', 'caller number');
      assert((await a.page.locator('#pop-line').textContent()).includes('short_1580'), 'line');
      assert((await a.page.locator('#pop-ivr').textContent()).includes('housing'), 'IVR choices');
      assert((await a.page.locator('#pop-queue').textContent()).includes('general'), 'queue');
      await shownAsText(a.page, '#pop-applicant', `Шевченко${INJECT}`);
      await waitState(a.page, 'talking');
      await a.page.locator('#call-controls').waitFor({ state: 'visible' });
    });

    let regNo;
    let appealId;
    await step('olena registers the appeal during the call', async () => {
      const p = a.page;
      // Prefilled from the registry: the applicant and their address.
      await p.waitForFunction(() => document.getElementById('building').value === '12');
      assert((await p.inputValue('#last-name')) === `Шевченко${INJECT}`, 'applicant prefilled');
      await chooseCategory(p, 'витік води', 'water.leak');
      await p.keyboard.press('Alt+KeyA');
      await p.fill('#street', `Соборна ${INJECT}`);
      await p.fill('#building', '12');
      await p.fill('#entrance', '3');
      await p.fill('#floor', '4');
      await p.fill('#flat', '17');
      await p.check('#emergency');
      await p.locator('#emergency-fields').waitFor({ state: 'visible' });
      assert((await p.inputValue('#discovered-at')).length >= 16, 'discovered-at prefilled with now');
      await p.fill('#nature', `Пориви труби ${INJECT}`);
      await p.fill('#description', `Тече вода в під'їзді ${INJECT}`);
      await screenshot(p, 'desk.png');
      await p.keyboard.press('Control+Enter');
      await p.waitForFunction(() => document.getElementById('form-result').textContent.length > 0);
      const text = await p.locator('#form-result').textContent();
      const m = text.match(/\d{4}-\d{6}/);
      assert(m, `registered: ${text} / ${await p.locator('#form-error').textContent()}`);
      regNo = m[0];
      appealId = await p.evaluate(async (r) => (await (await fetch(`/api/v1/appeals/by-number/${r}`)).json()).id, regNo);
      log(`appeal ${regNo} (#${appealId})`);
      await p.waitForFunction((c) => [...document.querySelectorAll('#events li')].some((li) => li.dataset.type === 'linked' && li.dataset.call === c), first);
    });

    await step('olena hangs up (F8) and leaves wrap-up', async () => {
      const p = a.page;
      await p.keyboard.press('F8');
      await p.waitForFunction((c) => [...document.querySelectorAll('#events li')].some((li) => li.dataset.type === 'ended' && li.dataset.call === c), first);
      // Linked during the call: wrap-up ends with the call and she is ready again.
      await waitState(p, 'ready');
      assert(await p.locator('#wrap-line').isHidden(), 'no wrap-up left');
      await p.selectOption('#pause-reason', 'lunch');
      await p.keyboard.press('F3');
      await waitState(p, 'paused');
      assert((await p.locator('#state-reason').textContent()) === 'Обід', 'pause reason shown');
    });

    let second;
    await step('ivan takes the repeat call and links it to the existing appeal', async () => {
      const p = b.page;
      await p.keyboard.press('F2');
      await waitState(p, 'ready');
      second = (await rpc({ cmd: 'call', caller: CALLER })).uuid;
      pops.push(await popOf(p, second));
      // The screen-pop shows the earlier appeal with its state, due date and executor.
      await p.waitForFunction((r) => document.getElementById('pop-appeals').textContent.includes(r), regNo);
      await p.waitForFunction(() => document.getElementById('pop-appeals').textContent.includes('Водоканал'));
      await shownAsText(p, '#pop-open', INJECT);
      await waitState(p, 'talking');
      // Hold and back (F4), as the switch reports it.
      await p.keyboard.press('F4');
      await p.waitForFunction(() => document.getElementById('btn-hold').getAttribute('aria-pressed') === 'true');
      assert((await p.locator('#call-badge').textContent()) === 'На утриманні', 'on hold shown');
      await p.keyboard.press('F4');
      await p.waitForFunction(() => document.getElementById('btn-hold').getAttribute('aria-pressed') === 'false');
      await chooseCategory(p, 'витік', 'water.leak');
      await p.fill('#street', `Соборна ${INJECT}`);
      await p.fill('#building', '12');
      const item = p.locator(`#suggestion-list li[data-appeal="${appealId}"]`);
      await item.waitFor();
      await shownAsText(p, '#suggestion-list', `Тече вода в під'їзді ${INJECT}`);
      await screenshot(p, 'desk-repeat.png');
      await item.getByRole('button').click();
      await p.waitForFunction(() => document.getElementById('form-result').textContent.length > 0);
      assert((await p.locator('#form-result').textContent()).includes(regNo), 'linked to the same appeal');
      await p.getByRole('button', { name: /Завершити дзвінок/ }).click();
      await waitState(p, 'ready');
    });

    let third;
    await step('the feed drops mid-call and resumes: nothing missed, nothing twice', async () => {
      const p = b.page;
      third = (await rpc({ cmd: 'call', caller: '0671112233' })).uuid;
      pops.push(await popOf(p, third));
      await waitState(p, 'talking');
      const before = await eventsOf(p);
      // Drop the connection and keep it down while the caller hangs up.
      relay.blocked = true;
      relay.page.close({ code: 4001, reason: 'dropped by the test' });
      relay.server.close();
      await p.waitForFunction(() => document.getElementById('feed-status').dataset.state === 'offline');
      assert((await rpc({ cmd: 'hangup_caller', uuid: third })).ok, 'the caller hung up');
      // The server's stream has moved on (asked over REST, not the feed).
      await p.waitForFunction(async () => (await (await fetch('/api/v1/desk')).json()).state === 'wrap-up', null, { polling: 200 });
      assert(!(await eventsOf(p)).some((e) => e.type === 'ended' && e.call === third), 'the page could not have heard the end');
      relay.blocked = false;
      await p.waitForFunction(() => Number(document.getElementById('feed-status').dataset.resumes) >= 1, null, { timeout: 40_000 });
      await feedLive(p);
      await waitState(p, 'wrap-up');
      await p.locator('#wrap-line').waitFor({ state: 'visible' });
      // A message the page already has, sent again: it must be dropped.
      relay.page.send(relay.last);
      await p.waitForFunction(() => Number(document.getElementById('feed-status').dataset.duplicates) >= 1);
      const after = await eventsOf(p);
      const seqs = after.map((e) => e.seq);
      for (let i = 1; i < seqs.length; i += 1) {
        assert(seqs[i] === seqs[i - 1] + 1, `events ${seqs[i - 1]} then ${seqs[i]}: ${JSON.stringify(seqs)}`);
      }
      assert(after.length > before.length, 'the missed messages arrived');
      assert(after.filter((e) => e.type === 'ended' && e.call === third).length === 1, 'the end shown once');
      assert(after.filter((e) => e.type === 'screen_pop' && e.call === third).length === 1, 'the screen-pop shown once');
      const snapshots = Number(await p.locator('#feed-status').getAttribute('data-snapshots'));
      assert(snapshots === 1, `resumed without a new snapshot (${snapshots} snapshots)`);
      // Wrap-up ends when the call is linked, here to an appeal found by its number.
      await p.keyboard.press('Alt+KeyL');
      await p.keyboard.type(regNo);
      await p.keyboard.press('Enter');
      await p.waitForFunction((r) => document.getElementById('link-found').textContent.includes(r), regNo);
      await shownAsText(p, '#link-found', INJECT);
      await p.keyboard.press('Control+Enter');
      await waitState(p, 'ready');
      assert(await p.locator('#wrap-line').isHidden(), 'wrap-up over');
    });

    await step('a call that was not an appeal gets an outcome in wrap-up', async () => {
      const p = b.page;
      const fourth = (await rpc({ cmd: 'call', caller: '0931234567' })).uuid;
      pops.push(await popOf(p, fourth));
      await waitState(p, 'talking');
      // F9 takes the operator to the directory (Enter there would transfer the call; a
      // transferred call cannot be linked in wrap-up yet, see the engine note in the report).
      await p.keyboard.press('F9');
      assert(await p.evaluate(() => document.activeElement.id) === 'transfer-target', 'F9 focuses the directory');
      const targets = await p.$$eval('#transfer-target option', (o) => o.map((x) => x.value));
      assert(targets.includes('104') && targets.includes('water'), `the configured directory: ${targets}`);
      assert((await rpc({ cmd: 'hangup_caller', uuid: fourth })).ok, 'the caller hung up');
      await waitState(p, 'wrap-up');
      await p.locator('#wrap-line').waitFor({ state: 'visible' });
      await p.keyboard.press('Alt+KeyO');
      await p.selectOption('#outcome', 'wrong_number');
      await p.keyboard.press('Control+Enter');
      await waitState(p, 'ready');
      assert((await p.locator('#form-result').textContent()).includes('Помилковий дзвінок'), 'outcome saved');
    });

    await step('a walk-in appeal without a call, and the English switch', async () => {
      const p = a.page;
      await p.selectOption('#channel', 'personal_reception');
      await chooseCategory(p, 'неякісна вода', 'water.quality');
      await p.fill('#street', 'вул. Перемоги');
      await p.fill('#building', '5');
      await p.fill('#description', `Вода з запахом ${INJECT}`);
      await p.fill('#last-name', `Петренко${INJECT}`);
      await p.fill('#first-name', 'Іван');
      await p.getByRole('button', { name: /Зберегти звернення/ }).click();
      // A name with markup is refused: the field is marked and focused, nothing is saved.
      await p.waitForFunction(() => document.getElementById('last-name').getAttribute('aria-invalid') === 'true');
      assert(await p.evaluate(() => document.activeElement.id) === 'last-name', 'the wrong field has the focus');
      await shownAsText(p, '#form-error', 'Прізвище');
      const expected = a.problems.findIndex((x) => x.includes('422'));
      assert(expected >= 0, 'the refusal was a 422');
      a.problems.splice(expected, 1);
      await p.fill('#last-name', 'Петренко');
      await p.keyboard.press('Control+Enter');
      await p.waitForFunction(() => /\d{4}-\d{6}/.test(document.getElementById('form-result').textContent));
      await p.getByRole('link', { name: 'Мова інтерфейсу' }).click();
      await p.waitForFunction(() => document.documentElement.lang === 'en');
      await feedLive(p);
      assert((await badge(p).textContent()) === 'Paused', 'the state in English');
      await screenshot(p, 'desk-en.png');
    });

    await step('a one-time password is changed on the login page; logout', async () => {
      const n = await person(browser, 'novak');
      people.push(n);
      const p = n.page;
      await p.goto(`${URL}/desk`);
      await p.waitForURL(/\/login\?next=/);
      await p.getByLabel("Ім'я користувача").fill('novak');
      await p.getByLabel(/^Пароль$/).fill(PASSWORD);
      await p.keyboard.press('Enter');
      await p.locator('#change-form').waitFor({ state: 'visible' });
      assert(await p.evaluate(() => document.activeElement.id) === 'new-password', 'focus on the new password');
      await p.fill('#new-password', 'a brand new password');
      await p.fill('#new-password2', 'a brand new passwort');
      await p.getByRole('button', { name: /Змінити пароль/ }).click();
      assert((await p.locator('#login-error').textContent()) === 'Паролі не збігаються', 'mismatch caught in the page');
      await p.fill('#new-password2', 'a brand new password');
      await p.getByRole('button', { name: /Змінити пароль/ }).click();
      await p.waitForURL(`${URL}/desk`);
      // An account the call center does not know as an operator is told so.
      await p.waitForFunction(() => document.getElementById('state-error').textContent.includes('не налаштований'));
      const forbidden = n.problems.findIndex((x) => x.includes('403'));
      assert(forbidden >= 0, 'the desk API refused the account');
      n.problems.splice(forbidden, 1);
      await p.getByRole('button', { name: 'Вийти' }).click();
      await p.waitForURL(`${URL}/login`);
      // The session is gone: the desk sends the browser to log in again.
      await p.goto(`${URL}/desk`);
      await p.waitForURL(/\/login\?next=/);
    });

    for (const x of people) {
      const evil = await x.page.evaluate(() => window.__pwned);
      assert(evil === undefined, `${x.name}: injected code ran`);
    }
    const problems = people.flatMap((x) => x.problems);
    assert(problems.length === 0, `errors in the pages:\n${problems.join('\n')}`);
    result({ pops, first_call: first, second_call: second, third_call: third, appeal_id: appealId, reg_no: regNo });
  } catch (e) {
    // What each page showed when it failed, for the artifacts.
    for (const x of people) {
      await screenshot(x.page, `failed-${x.name}.png`).catch(() => {});
      log(`${x.name}: events`, JSON.stringify(await eventsOf(x.page).catch(() => [])));
      log(`${x.name}: problems`, x.problems.join(' | '));
    }
    throw e;
  } finally {
    await browser.close();
  }
}

// Exit at once: stdin (the test's answers) would keep node waiting.
main().then(() => process.exit(0), (e) => {
  console.error(`FAILED: ${e.message}`);
  console.error(e.stack || '');
  process.exit(1);
});
