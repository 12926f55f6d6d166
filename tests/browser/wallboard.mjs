// The wall board in a real browser (issue 6): a supervisor logs in, forces operators' states
// (ready; a pause with a reason), sees calls appear, wait, get answered and disappear, raises a
// waiting call's priority and moves it to another queue, starts a listen session on a live
// call (the Rust side checks the switch really got the eavesdrop), sees a caller ID carrying
// markup shown as text, watches the intraday chart
// count the calls, and sees the "disconnected, last update hh:mm:ss" banner while the feed is
// down. Screenshots: wallboard.png (1366×768) and wallboard-tv.png (large type, 1920×1080).
import {
  URL, assert, fits, labelled, launch, log, login, person, result, rpc, screenshot, shownAsText, step,
} from './lib.mjs';

const INJECT = process.env.KONTAKT_INJECT || '<img src=x onerror="window.__pwned=1">';

const ROW = (uuid) => `#calls tr[data-call="${uuid}"]`;

async function feedLive(page) {
  await page.waitForFunction(() => document.getElementById('feed-status').dataset.state === 'live');
}

async function agentId(page, username) {
  const row = page.locator('#agents tbody tr').filter({ has: page.getByRole('rowheader', { name: username, exact: true }) });
  await row.waitFor();
  return row.getAttribute('data-agent');
}

async function waitAgent(page, id, state) {
  await page.waitForFunction(([i, s]) => {
    const r = document.querySelector(`#agents tr[data-agent="${i}"]`);
    return r && r.dataset.state === s;
  }, [id, state]);
}

/** Forces `username`'s state through the dialog, as a supervisor does with the keyboard. */
async function force(page, username, state, reason) {
  await page.getByRole('button', { name: new RegExp(`(Змінити стан оператора|Change the state of) ${username}$`) }).click();
  const dlg = page.locator('#dlg-state');
  await dlg.waitFor({ state: 'visible' });
  assert(await page.evaluate(() => document.activeElement.id) === 'force-state', 'the dialog focuses its first field');
  await page.selectOption('#force-state', state);
  if (reason) await page.selectOption('#force-reason', reason);
  else assert(await page.locator('#force-reason').isDisabled(), 'no reason without a pause');
  await page.locator('#force-submit').click();
  await dlg.waitFor({ state: 'hidden' });
  // The focus goes back to where it was: the operator's button.
  const back = await page.evaluate(() => document.activeElement.getAttribute('aria-label') || '');
  assert(back.endsWith(` ${username}`), `the focus is back on ${username}'s button, not ${JSON.stringify(back)}`);
}

async function callPhase(page, uuid, phase) {
  await page.waitForFunction(([u, p]) => {
    const r = document.querySelector(`#calls tr[data-call="${u}"]`);
    return r && r.dataset.phase === p;
  }, [uuid, phase]);
}

async function chartCounts(page) {
  return page.$$eval('#chart g.bar', (gs) => gs.reduce((acc, g) => ({
    offered: acc.offered + Number(g.dataset.offered),
    answered: acc.answered + Number(g.dataset.answered),
    abandoned: acc.abandoned + Number(g.dataset.abandoned),
    bars: acc.bars + 1,
  }), { offered: 0, answered: 0, abandoned: 0, bars: 0 }));
}

async function main() {
  const browser = await launch();
  const people = [];
  const out = {};
  try {
    const s = await person(browser, 'supervisor');
    people.push(s);
    const { page } = s;

    // The feed goes through a relay the test controls, to take it down and bring it back.
    const relay = { blocked: false, mute: false, page: null, connects: 0 };
    await page.routeWebSocket(/\/api\/v1\/feed/, (ws) => {
      if (relay.blocked) {
        ws.close({ code: 4002, reason: 'the test keeps the feed down' });
        return;
      }
      const server = ws.connectToServer();
      relay.page = ws;
      relay.connects += 1;
      // Muted: the socket stays open but the server's messages are lost on the way.
      server.onMessage((m) => {
        if (!relay.mute) ws.send(m);
      });
    });

    let olena;
    let ivan;
    await step('the supervisor logs in and the board goes live', async () => {
      await login(s, 'nadia', '/wallboard');
      // Thresholds from the address: one waiting call is already amber.
      await page.goto(`${URL}/wallboard?waiting=1,3`);
      await feedLive(page);
      assert(await page.locator('html').getAttribute('lang') === 'uk', 'Ukrainian by default');
      await page.locator('#queues .queue[data-queue="general"]').waitFor();
      const conv = await page.locator('#queues .queue[data-queue="general"] [data-figure="service_level"] .kpi-note').textContent();
      assert(conv.includes('20 с') && conv.includes('5 с'), `the service-level convention is shown: ${conv}`);
      assert(await page.locator('#wb-stale').isHidden(), 'no staleness banner while live');
      olena = await agentId(page, 'olena');
      ivan = await agentId(page, 'ivan');
      await waitAgent(page, olena, 'logged-out');
      await labelled(page);
      await fits(page);
    });

    await step('forcing states: olena ready, ivan paused for training', async () => {
      await force(page, 'olena', 'ready');
      await waitAgent(page, olena, 'ready');
      await force(page, 'ivan', 'ready');
      await waitAgent(page, ivan, 'ready');
      await force(page, 'ivan', 'pause', 'training');
      await waitAgent(page, ivan, 'paused');
      const reason = await page.locator(`#agents tr[data-agent="${ivan}"] .reason`).textContent();
      assert(reason.includes('Навчання'), `the pause reason is shown: ${reason}`);
    });

    let first;
    await step('a call appears, is answered by olena, and shows on her row', async () => {
      first = (await rpc({ cmd: 'call', caller: '0501234567' })).uuid;
      await page.locator(ROW(first)).waitFor();
      await callPhase(page, first, 'talking');
      await waitAgent(page, olena, 'talking');
      const row = await page.locator(ROW(first)).textContent();
      assert(row.includes('+380501234567') && row.includes('olena'), `the live call row: ${row}`);
      const agentRow = await page.locator(`#agents tr[data-agent="${olena}"]`).textContent();
      assert(agentRow.includes('+380501234567'), `olena's row shows her call: ${agentRow}`);
    });

    await step('the supervisor listens in; the switch gets the eavesdrop', async () => {
      await page.locator(ROW(first)).getByRole('button', { name: /^Слухати/ }).click();
      await page.waitForFunction(() => document.getElementById('wb-message').textContent.length > 0);
      const seen = await rpc({ cmd: 'eavesdrop_seen', uuid: first });
      assert(seen.ok, `eavesdrop on the switch: ${JSON.stringify(seen)}`);
      out.eavesdrop = seen;
    });

    let second;
    await step('a second call waits; its priority is raised and it is moved', async () => {
      second = (await rpc({ cmd: 'call', caller: '0671112233' })).uuid;
      await callPhase(page, second, 'queued');
      await page.waitForFunction(() => document.querySelector('#queues .queue[data-queue="general"] [data-figure="waiting"]').dataset.level === 'amber');
      await page.locator(ROW(second)).getByRole('button', { name: /Черга і пріоритет/ }).click();
      await page.locator('#dlg-call').waitFor({ state: 'visible' });
      await page.fill('#call-priority', '7');
      await page.locator('#priority-submit').click();
      await page.locator('#dlg-call').waitFor({ state: 'hidden' });
      await page.waitForFunction((u) => {
        const r = document.querySelector(`#calls tr[data-call="${u}"]`);
        return r && r.textContent.includes('7');
      }, second);
      await page.locator(ROW(second)).getByRole('button', { name: /Черга і пріоритет/ }).click();
      await page.selectOption('#move-queue', 'emergency');
      await page.locator('#move-submit').click();
      await page.locator('#dlg-call').waitFor({ state: 'hidden' });
      await page.waitForFunction((u) => {
        const r = document.querySelector(`#calls tr[data-call="${u}"]`);
        return r && r.textContent.includes('emergency');
      }, second);
      // The chart counts calls as they reach a queue: both are offered, one answered.
      await page.waitForFunction(() => {
        const gs = [...document.querySelectorAll('#chart g.bar')];
        const sum = (k) => gs.reduce((a, g) => a + Number(g.dataset[k]), 0);
        return sum('offered') === 2 && sum('answered') === 1;
      });
      await fits(page);
      await screenshot(page, 'wallboard.png');
    });

    await step('a caller ID carrying markup is shown as text, never run', async () => {
      const third = (await rpc({ cmd: 'call', caller: INJECT })).uuid;
      await callPhase(page, third, 'queued');
      const shown = await page.locator(ROW(third)).locator('th').textContent();
      assert(shown.includes('Без номера') || shown.includes(INJECT), `the caller cell: ${shown}`);
      await shownAsText(page, ROW(third), shown.trim().split(' ')[0]);
      await rpc({ cmd: 'hangup_caller', uuid: third });
      await page.locator(ROW(third)).waitFor({ state: 'detached' });
      out.third_call = third;
    });

    await step('the feed goes down: the banner names the last update; it comes back', async () => {
      const before = await page.locator('#wb-updated').textContent();
      relay.blocked = true;
      relay.page.close({ code: 4003, reason: 'the test drops the feed' });
      await page.locator('#wb-stale').waitFor({ state: 'visible' });
      const banner = await page.locator('#wb-stale').textContent();
      assert(/\d\d:\d\d:\d\d/.test(banner) && banner.includes('Немає зв'), `the banner: ${banner}`);
      assert(banner.includes(before) || before === '—' || banner.length > 0, 'the banner names the last update');
      assert(await page.evaluate(() => document.body.classList.contains('stale')), 'the figures are greyed');
      await screenshot(page, 'wallboard-disconnected.png');
      relay.blocked = false;
      await feedLive(page);
      await page.locator('#wb-stale').waitFor({ state: 'hidden' });
    });

    await step('a socket that goes silent is noticed within 1.5 s and replaced', async () => {
      const connects = relay.connects;
      relay.mute = true;
      const t0 = Date.now();
      await page.locator('#wb-stale').waitFor({ state: 'visible' });
      const noticed = Date.now() - t0;
      assert(noticed < 2500, `the silent socket was noticed after ${noticed} ms`);
      relay.mute = false;
      await page.waitForFunction(() => document.getElementById('wb-stale').hidden);
      assert(relay.connects > connects, 'the page opened a new connection');
      out.silent_noticed_ms = noticed;
    });

    await step('both callers hang up: the calls disappear and the chart counts them', async () => {
      await rpc({ cmd: 'hangup_caller', uuid: second });
      await page.locator(ROW(second)).waitFor({ state: 'detached' });
      await rpc({ cmd: 'hangup_caller', uuid: first });
      await page.locator(ROW(first)).waitFor({ state: 'detached' });
      await waitAgent(page, olena, 'wrap-up');
      assert(await page.locator('#calls-empty').isVisible(), 'no calls left');
      await page.waitForFunction(() => {
        const gs = [...document.querySelectorAll('#chart g.bar')];
        const sum = (k) => gs.reduce((a, g) => a + Number(g.dataset[k]), 0);
        return sum('offered') >= 3 && sum('answered') >= 1 && sum('abandoned') >= 2;
      });
      out.chart = await chartCounts(page);
      assert(out.chart.bars >= 92 && out.chart.bars <= 100, `a day of quarter hours: ${out.chart.bars}`);
      await page.waitForFunction((id) => {
        const c = document.querySelector(`#agents tr[data-agent="${id}"] td[data-today]`);
        return c && c.textContent === '1';
      }, olena);
    });

    await step('English, and large type on a 1920×1080 screen', async () => {
      // The switch is the header's language link (its accessible name is "Interface language").
      assert((await page.locator('header a.lang').textContent()) === 'English', 'the switch offers English');
      await page.locator('header a.lang').click();
      await feedLive(page);
      assert(await page.locator('html').getAttribute('lang') === 'en', 'English');
      assert((await page.locator('h1').textContent()).includes('Wallboard'), 'English title');
      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.getByRole('button', { name: 'Large type' }).click();
      assert(await page.getByRole('button', { name: 'Large type' }).getAttribute('aria-pressed') === 'true', 'pressed');
      assert(await page.locator('#calls th.act').isHidden(), 'no controls on the TV');
      await page.waitForFunction(() => document.querySelectorAll('#chart g.bar').length > 0);
      await screenshot(page, 'wallboard-tv.png');
      await page.getByRole('button', { name: 'Large type' }).click();
      await page.locator('header a.lang').click();
      await page.waitForFunction(() => document.documentElement.lang === 'uk');
    });

    const problems = people.flatMap((p) => p.problems);
    assert(problems.length === 0, `page problems:\n${problems.join('\n')}`);
    result({ first_call: first, waiting_call: second, olena: Number(olena), ivan: Number(ivan), ...out });
  } catch (e) {
    for (const x of people) await screenshot(x.page, `failed-wallboard-${x.name}.png`).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

// Exit explicitly: the reader of the Rust side's answers (stdin) would keep node alive.
main().then(() => process.exit(0), (e) => {
  log(e.stack || String(e));
  process.exit(1);
});
