// End-to-end tests of the sample app against a real backend (see harness.js). Run: npm run e2e
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import {
  artifactPath, contractSchemaText, DEMO_ORGANIZER, gql, launchBrowser, logIn, logInThroughUi, newFan, recordOperations,
  showsOf, startBackend, watchConsole,
} from './harness.js';

const DECLINED = 'Your card was declined — try another card';

let backend;
let browser;
let hamlet; // three Hamlet show ids, soonest first: [live map, purchases, waiting room]
let stadium;
let confirmedOrder = null; // set by test 2, screenshotted again by test 5
let confirmedOrderFailure = 'test 2 did not run';
const operations = new Set(); // every GraphQL document the app sent, for the contract check

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  hamlet = await showsOf(backend.url, 'Hamlet');
  [stadium] = await showsOf(backend.url, 'Night Owls');
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

/** A browser context for one person; `token` signs them in without the form. */
async function person(token = null) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  if (token) {
    await context.addInitScript((t) => {
      if (!sessionStorage.getItem('boxoffice.token')) {
        sessionStorage.setItem('boxoffice.token', JSON.stringify(t));
        sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: '', name: 'E2E fan', role: 'FAN' }));
      }
    }, token);
  }
  const page = await context.newPage();
  const errors = [];
  watchConsole(page, errors);
  recordOperations(page, operations);
  return { context, page, errors };
}

const seat = (page, section, row, number) =>
  page.getByRole('checkbox', { name: new RegExp(`^${section}, row ${row}, seat ${number},`) });

/** The map opens on the whole venue; seats become tappable elements once zoomed in (its section button does). */
async function zoomTo(page, section) {
  // The section list is re-rendered as live availability arrives: a click can land on the list
  // being replaced, as a fan's can, so the fan's remedy: press it again.
  for (let attempt = 1; ; attempt += 1) {
    await page.getByRole('button', { name: new RegExp(`^${section}`) }).click();
    try {
      await page.locator('.seatmap .seat').first().waitFor({ timeout: attempt < 3 ? 5_000 : 20_000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function mapReady(page) {
  await page.locator('.venue-viewport[data-zoom]').waitFor({ timeout: 20_000 });
  await page.locator('.map-host .loading').waitFor({ state: 'detached', timeout: 20_000 });
}

async function openShow(page, showId) {
  await page.goto(`${backend.url}/#/shows/${showId}`);
  await mapReady(page);
}

async function waitLive(page) {
  await page.locator('.live-indicator[data-state="live"]').waitFor({ timeout: 10_000 });
}

/** Clicks "Hold …" and returns when the hold panel shows; fails with the message the app showed otherwise. */
async function hold(page) {
  await page.locator('.hold-button').click();
  const panel = page.locator('.hold-panel:not([hidden])');
  const error = page.locator('.messages .notice-error');
  await Promise.race([panel.waitFor({ timeout: 15_000 }), error.waitFor({ timeout: 15_000 })]);
  if (await error.isVisible()) assert.fail(`holdSeats failed in the app: "${(await error.innerText()).trim()}"`);
}

/** Pays on the checkout screen; returns 'confirmed' or the text of the error the app showed. */
async function pay(page, card) {
  await page.locator(`#card-${card}`).check();
  await page.locator('.pay-button').click();
  const confirmed = page.locator('h1.order-confirmed');
  const error = page.locator('.payment-status .notice-error');
  await Promise.race([confirmed.waitFor({ timeout: 30_000 }), error.waitFor({ timeout: 30_000 })]);
  if (await confirmed.isVisible()) return 'confirmed';
  return (await error.innerText()).trim();
}

async function toCheckout(page) {
  await page.locator('.checkout-link').click();
  await page.locator('.pay-button').waitFor({ timeout: 10_000 });
}

describe('boxoffice sample app', () => {
  test('1. a hold in one browser turns the seat HELD in another within one second, without reloading', { timeout: 90_000 }, async (t) => {
    const a = await person();
    const b = await person();
    try {
      // A signs up through the app; B, anonymous, finds the show through the event list.
      await a.page.goto(`${backend.url}/#/signup?next=${encodeURIComponent(`/shows/${hamlet[0]}`)}`);
      await a.page.getByLabel('Your name').fill('Live Tester');
      await a.page.getByLabel('Email').fill(`live-${Date.now()}@e2e.boxoffice.test`);
      await a.page.getByLabel('Password').fill('e2e-password-123');
      await a.page.getByRole('button', { name: 'Create account' }).click();
      await mapReady(a.page);
      await zoomTo(a.page, 'Orchestra');

      await b.page.goto(`${backend.url}/#/`);
      await b.page.getByLabel('Search').fill('Hamlet');
      await b.page.getByRole('button', { name: 'Search' }).click();
      await b.page.getByRole('link', { name: 'Hamlet' }).click();
      await b.page.getByRole('link', { name: /^Choose seats/ }).first().click();
      await mapReady(b.page);
      await zoomTo(b.page, 'Orchestra');
      assert.ok(b.page.url().endsWith(`#/shows/${hamlet[0]}`), `B is on ${b.page.url()}`);
      await Promise.all([waitLive(a.page), waitLive(b.page)]);

      // A picks C5 with the mouse and C6 with the keyboard (arrow right, then Space).
      const c5 = seat(a.page, 'Orchestra', 'C', 5);
      await c5.click();
      assert.equal(await c5.getAttribute('aria-checked'), 'true');
      await a.page.keyboard.press('ArrowRight');
      const c6 = seat(a.page, 'Orchestra', 'C', 6);
      assert.equal(await a.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), await c6.getAttribute('aria-label'));
      await a.page.keyboard.press('Space');
      assert.equal(await c6.getAttribute('aria-checked'), 'true');
      const ids = [await c5.getAttribute('data-seat-id'), await c6.getAttribute('data-seat-id')];
      assert.equal(await b.page.locator(`[data-seat-id="${ids[0]}"]`).getAttribute('data-status'), 'AVAILABLE');

      const holdResponse = a.page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('HoldSeats'));
      await hold(a.page);
      const heldAt = (await holdResponse, Date.now());

      // B: no reload, the subscription must deliver it.
      const budget = Math.max(50, 1000 - (Date.now() - heldAt));
      await b.page.waitForFunction(
        (seatIds) => seatIds.every((id) => document.querySelector(`[data-seat-id="${id}"]`)?.getAttribute('data-status') === 'HELD'),
        ids, { timeout: budget, polling: 20 },
      ).catch(() => assert.fail(`B did not see seats ${ids} turn HELD within 1 s of the hold (errors: ${b.errors.join(' | ') || 'none'})`));
      const seenAfter = Date.now() - heldAt;
      assert.match(await seat(b.page, 'Orchestra', 'C', 5).getAttribute('aria-label'), /held by someone else/);
      assert.match(await seat(a.page, 'Orchestra', 'C', 5).getAttribute('aria-label'), /held for you/);
      t.diagnostic(`B saw the hold after ${seenAfter} ms`);
      await b.page.locator('.seatmap').screenshot({ path: await artifactPath('seatmap-live.png') });

      // Releasing puts the seats back for B, live too.
      await a.page.getByRole('button', { name: 'Release seats' }).click();
      await b.page.waitForFunction(
        (id) => document.querySelector(`[data-seat-id="${id}"]`)?.getAttribute('data-status') === 'AVAILABLE', ids[0], { timeout: 3000 },
      );
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  test('2. buying with pm_card_visa ends on a confirmation with working ticket links', { timeout: 120_000 }, async () => {
    confirmedOrderFailure = 'test 2 failed before the payment';
    const fan = await newFan(backend.url, 'buyer');
    const p = await person();
    try {
      await logInThroughUi(p.page, backend.url, fan, `/shows/${hamlet[1]}`);
      await mapReady(p.page);
      await zoomTo(p.page, 'Orchestra');
      await seat(p.page, 'Orchestra', 'D', 10).click();
      await seat(p.page, 'Orchestra', 'D', 11).click();
      await p.page.getByRole('button', { name: 'One more for Standing' }).click();
      await hold(p.page);
      await toCheckout(p.page);
      const outcome = await pay(p.page, 'pm_card_visa');
      if (outcome !== 'confirmed') {
        confirmedOrderFailure = `payment did not confirm: "${outcome}"`;
        assert.fail(`pm_card_visa did not end on a confirmation; the app showed: "${outcome}"`);
      }
      const orderId = decodeURIComponent(p.page.url().split('#/orders/')[1] ?? '');
      assert.ok(orderId, `confirmation URL ${p.page.url()}`);
      const links = p.page.locator('.ticket-link');
      assert.equal(await links.count(), 3, 'two seats and one standing ticket');

      // The ticket link fetches the PDF with the token and opens it from a blob URL.
      const [pdf, popup] = await Promise.all([
        p.page.waitForResponse((r) => /\/tickets\/[^/]+\.pdf/.test(r.url()), { timeout: 15_000 }),
        p.context.waitForEvent('page', { timeout: 15_000 }),
        links.first().click(),
      ]);
      assert.equal(pdf.status(), 200, `ticket PDF answered ${pdf.status()}`);
      assert.match(pdf.request().headers().authorization ?? '', /^Bearer /, 'fetched with the Authorization header');
      await popup.waitForURL(/^blob:/, { timeout: 10_000 }).catch(() => undefined);
      assert.match(popup.url(), /^blob:/, 'the PDF opened from a blob URL');
      // What the person got in the new tab: read the blob back through the page that made it.
      const head = await p.page.evaluate(async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        return { magic: String.fromCharCode(...bytes.slice(0, 4)), size: bytes.length };
      }, popup.url());
      assert.equal(head.magic, '%PDF', 'the ticket is a PDF');
      assert.ok(head.size > 500, `the PDF has ${head.size} bytes`);
      await popup.close().catch(() => undefined);
      confirmedOrder = { id: orderId, token: fan.token };

      await p.page.screenshot({ path: await artifactPath('confirmation.png'), fullPage: true });

      // Order history shows it.
      await p.page.getByRole('link', { name: 'My orders' }).click();
      await p.page.locator('.order-item').first().waitFor({ timeout: 10_000 });
      assert.match(await p.page.locator('.order-item').first().innerText(), /confirmed/i);
    } finally {
      await p.context.close();
    }
  });

  test('3. a declined card shows an actionable message, and another card then works', { timeout: 120_000 }, async (t) => {
    const fan = await newFan(backend.url, 'declined');
    const p = await person(fan.token);
    try {
      await openShow(p.page, hamlet[1]);
      await zoomTo(p.page, 'Mezzanine');
      await seat(p.page, 'Mezzanine', 'B', 7).click();
      await hold(p.page);
      await toCheckout(p.page);
      const outcome = await pay(p.page, 'pm_card_visa_chargeDeclined');
      assert.ok(outcome.includes(DECLINED), `expected "${DECLINED}", the app showed: "${outcome}"`);
      assert.equal(await p.page.locator('.pay-button').isEnabled(), true, 'the buyer can try again');

      await t.test('3b. paying again with pm_card_visa confirms the same order', async () => {
        const retry = await pay(p.page, 'pm_card_visa');
        assert.equal(retry, 'confirmed', `retry with another card: "${retry}"`);
      });
    } finally {
      await p.context.close();
    }
  });

  test('4. the waiting room admits the browser and the hold then succeeds', { timeout: 150_000 }, async () => {
    const showId = hamlet[2];
    const organizer = await logIn(backend.url, DEMO_ORGANIZER);
    const configure = (enabled) => gql(backend.url, `mutation($s: ID!, $i: WaitingRoomInput!) {
      configureWaitingRoom(showId: $s, input: $i) {
        __typename ... on Show { waitingRoom { enabled admitPerMinute } } ... on Rejected { code message } } }`,
    { s: showId, i: { enabled, admitPerMinute: 600 } }, organizer);
    const { configureWaitingRoom } = await configure(true);
    assert.equal(configureWaitingRoom.__typename, 'Show',
      `configureWaitingRoom answered ${configureWaitingRoom.__typename}: ${configureWaitingRoom.code} "${configureWaitingRoom.message}"`);
    assert.equal(configureWaitingRoom.waitingRoom.enabled, true);

    const fan = await newFan(backend.url, 'queue');
    const p = await person(fan.token);
    const sent = [];
    p.page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && r.method() === 'POST') sent.push(r.postData() ?? '');
    });
    try {
      await p.page.goto(`${backend.url}/#/shows/${showId}`);
      // Sent to the queue first…
      await p.page.waitForFunction((id) => location.hash === `#/shows/${id}/queue`, showId, { timeout: 10_000 });
      const queueError = p.page.locator('.queue-card .notice-error');
      const map = p.page.locator('.venue-viewport[data-zoom]');
      await Promise.race([map.waitFor({ timeout: 90_000 }), queueError.waitFor({ timeout: 90_000 })]);
      if (await queueError.isVisible()) assert.fail(`the waiting room failed in the app: "${(await queueError.innerText()).trim()}"`);
      assert.ok(sent.some((b) => b.includes('EnterWaitingRoom')), 'enterWaitingRoom was called');
      // …then admitted back to the seat map; the hold carries the admission token.
      assert.equal(p.page.url().split('#')[1], `/shows/${showId}`);
      await mapReady(p.page);
      await zoomTo(p.page, 'Balcony');
      await seat(p.page, 'Balcony', 'C', 3).click();
      await hold(p.page);
      const holdBody = JSON.parse(sent.find((b) => b.includes('HoldSeats')));
      assert.ok(holdBody.variables.input.admissionToken, 'holdSeats carried the admission token');
    } finally {
      await p.context.close();
      await configure(false).catch(() => undefined);
    }
  });

  test('5. screenshots of the seat map and of the confirmation are written to test-artifacts/', { timeout: 120_000 }, async (t) => {
    await t.test('5a. theatre seat map', async () => {
      const p = await person();
      try {
        await openShow(p.page, hamlet[0]);
        await waitLive(p.page);
        const file = await artifactPath('seatmap.png');
        await p.page.screenshot({ path: file, fullPage: true });
        assert.equal((await readFile(file)).subarray(1, 4).toString(), 'PNG');
      } finally {
        await p.context.close();
      }
    });

    await t.test('5b. stadium: zoomed to one section, only the seats in view are elements, still keyboard usable', async () => {
      const p = await person();
      try {
        await openShow(p.page, stadium);
        await p.page.getByRole('button', { name: /^Section 101/ }).click();
        await p.page.locator('.seatmap .seat').first().waitFor({ timeout: 30_000 });
        const elements = await p.page.locator('.seatmap .seat').count();
        assert.ok(elements > 100 && elements < 5000, `${elements} seat elements: the canvas draws the venue, elements only for seats in view`);
        const focused = () => p.page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
        assert.match(await focused(), /^Section 101, row A, seat 1, €120, available/);
        await p.page.keyboard.press('ArrowDown');
        assert.match(await focused(), /^Section 101, row B, seat 1,/);
        await p.page.keyboard.press('End');
        assert.match(await focused(), /^Section 101, row B, seat 100,/);
        await p.page.keyboard.press('Enter');
        assert.equal(await p.page.evaluate(() => document.activeElement?.getAttribute('aria-checked')), 'true');
        const file = await artifactPath('seatmap-stadium.png');
        await p.page.screenshot({ path: file, fullPage: true });
        assert.equal((await readFile(file)).subarray(1, 4).toString(), 'PNG');
      } finally {
        await p.context.close();
      }
    });

    await t.test('5c. confirmation', async () => {
      assert.ok(confirmedOrder, `no confirmed order to show: ${confirmedOrderFailure}`);
      const p = await person(confirmedOrder.token);
      try {
        await p.page.goto(`${backend.url}/#/orders/${confirmedOrder.id}`);
        await p.page.locator('h1.order-confirmed').waitFor({ timeout: 15_000 });
        const file = await artifactPath('confirmation.png');
        await p.page.screenshot({ path: file, fullPage: true });
        assert.equal((await readFile(file)).subarray(1, 4).toString(), 'PNG');
      } finally {
        await p.context.close();
      }
    });
  });

  test('6. 3-D Secure: the bank page opens, and completing it confirms the order', { timeout: 120_000 }, async () => {
    const fan = await newFan(backend.url, 'threeds');
    const p = await person(fan.token);
    try {
      await openShow(p.page, hamlet[1]);
      await zoomTo(p.page, 'Balcony');
      await seat(p.page, 'Balcony', 'E', 12).click();
      await hold(p.page);
      await toCheckout(p.page);
      await p.page.locator('#card-pm_card_authenticationRequired').check();
      const [bank] = await Promise.all([
        p.context.waitForEvent('page', { timeout: 20_000 }),
        p.page.locator('.pay-button').click(),
      ]);
      await bank.locator('#complete').click({ timeout: 15_000 });
      // The checkout tab follows the order (orderUpdates, or polling) and lands on the confirmation.
      await p.page.locator('h1.order-confirmed').waitFor({ timeout: 30_000 });
      // The bank sent the other tab back to the app's return screen.
      await bank.locator('h1', { hasText: 'Verification complete' }).waitFor({ timeout: 10_000 });
    } finally {
      await p.context.close();
    }
  });

  test('7. every GraphQL operation the app sent is valid against the public contract', async () => {
    // The contract the app is written against: the published schema plus its additions (contract/next.graphql).
    const { file, text } = await contractSchemaText();
    const schema = buildSchema(`${text}\n${await readFile(path.resolve(path.dirname(file), 'next.graphql'), 'utf8')}`);
    assert.ok(operations.size >= 10, `only ${operations.size} operations were recorded`);
    const problems = [];
    for (const query of operations) {
      const errors = validate(schema, parse(query));
      if (errors.length) problems.push(`${query.trim().split('\n')[0]}\n  ${errors.map((e) => e.message).join('\n  ')}`);
    }
    assert.deepEqual(problems, [], `operations invalid against ${file}`);
  });

  test('8. GraphiQL at /graphql works offline: nothing from the internet, no inline script', { timeout: 60_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const offsite = [];
    const errors = [];
    try {
      // No internet: every request that leaves this machine fails (and is remembered).
      await context.route('**/*', async (route) => {
        const { hostname } = new URL(route.request().url());
        if (hostname === '127.0.0.1' || hostname === 'localhost') {
          // The page's own answer, under the strictest script policy: same-origin files only.
          if (route.request().resourceType() === 'document') {
            const response = await route.fetch();
            await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': "script-src 'self'" } });
          } else {
            await route.continue();
          }
          return;
        }
        offsite.push(route.request().url());
        await route.abort('internetdisconnected');
      });
      const page = await context.newPage();
      watchConsole(page, errors);
      await page.goto(`${backend.url}/graphql`);
      const editor = page.locator('.graphiql-query-editor .CodeMirror');
      await editor.waitFor({ timeout: 20_000 }).catch((e) => {
        throw new Error(`GraphiQL did not start (asked the internet for: ${offsite.join(', ') || 'nothing'}; `
          + `page errors: ${errors.join('; ') || 'none'}): ${e.message}`);
      });
      await editor.click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type('{ __typename }');
      await page.locator('.graphiql-execute-button').click();
      await page.locator('.graphiql-response', { hasText: '"__typename": "Query"' }).waitFor({ timeout: 15_000 });
    } finally {
      await context.close();
    }
    assert.deepEqual(offsite, [], 'GraphiQL asked the internet for something');
    assert.deepEqual(errors.filter((e) => /Content Security Policy|Refused to/i.test(e)), [], 'GraphiQL broke the script policy');
  });
  test('9. the app and GraphiQL run under the server\'s own security headers; the token stays in this tab', { timeout: 90_000 }, async () => {
    const fan = await newFan(backend.url, 'headers');
    const p = await person();
    const refused = (errors) => errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
    try {
      const [document] = await Promise.all([
        p.page.waitForResponse((r) => r.request().resourceType() === 'document', { timeout: 20_000 }),
        logInThroughUi(p.page, backend.url, fan, `/shows/${hamlet[0]}`),
      ]);
      const headers = document.headers();
      assert.match(headers['content-security-policy'] ?? '', /script-src 'self';/, 'the app is served with a CSP');
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      assert.equal(headers['x-frame-options'], 'DENY');
      assert.equal(headers['x-content-type-options'], 'nosniff');
      await mapReady(p.page);
      await waitLive(p.page);
      const stored = await p.page.evaluate(() => ({
        session: sessionStorage.getItem('boxoffice.token'), local: localStorage.getItem('boxoffice.token') }));
      assert.ok(stored.session, 'signed in: the token is in sessionStorage');
      assert.equal(stored.local, null, 'nothing in localStorage');
      assert.deepEqual(refused(p.errors), [], 'the app broke its security policy');

      const ide = await p.context.newPage();
      const ideErrors = [];
      watchConsole(ide, ideErrors);
      const page = await ide.goto(`${backend.url}/graphql`);
      assert.match(page.headers()['content-security-policy'] ?? '', /script-src 'self';/, 'GraphiQL runs no inline script');
      const editor = ide.locator('.graphiql-query-editor .CodeMirror');
      await editor.waitFor({ timeout: 20_000 });
      await editor.click();
      await ide.keyboard.press('ControlOrMeta+A');
      await ide.keyboard.press('Delete');
      await ide.keyboard.type('{ __typename }');
      await ide.locator('.graphiql-execute-button').click();
      await ide.locator('.graphiql-response', { hasText: '"__typename": "Query"' }).waitFor({ timeout: 15_000 });
      assert.deepEqual(refused(ideErrors), [], 'GraphiQL broke its security policy');
    } finally {
      await p.context.close();
    }
  });
});
