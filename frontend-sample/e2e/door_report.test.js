// The organizer's pages in the browser: the door admits a ticket once (typed barcode, big green then
// red answer, the count admitted), and the sales report shows the figures and a live uPlot chart.
// Run: npm run build && node --test e2e/door_report.test.js
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  artifactPath, DEMO_ORGANIZER, gql, launchBrowser, logIn, newFan, showsOf, startBackend, watchConsole,
} from './harness.js';

let backend;
let browser;
let organizerToken;
let showId;
let barcode;

/** Buys the first available seat of the show as a new fan (GraphQL; the simulator's test card). */
async function buyOne(url, show) {
  const fan = await newFan(url, 'door');
  const { show: s } = await gql(url, 'query($id: ID!) { show(id: $id) { seats { id status } } }', { id: show });
  const seat = s.seats.find((x) => x.status === 'AVAILABLE');
  const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
    __typename ... on Hold { id } ... on Rejected { code message } } }`,
  { i: { showId: show, seatIds: [seat.id], idempotencyKey: `door-${Date.now()}-${Math.random()}` } }, fan.token);
  assert.equal(holdSeats.__typename, 'Hold', JSON.stringify(holdSeats));
  const { createOrder } = await gql(url, `mutation($i: CreateOrderInput!) { createOrder(input: $i) {
    __typename ... on Order { id } ... on Rejected { code message } } }`,
  { i: { holdId: holdSeats.id, idempotencyKey: `o-${Date.now()}-${Math.random()}` } }, fan.token);
  const { confirmPayment } = await gql(url, `mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
    __typename ... on Order { status tickets { barcode } } ... on Rejected { code message } } }`,
  { i: { orderId: createOrder.id, paymentMethod: 'pm_card_visa', idempotencyKey: `p-${Date.now()}` } }, fan.token);
  assert.equal(confirmPayment.status, 'CONFIRMED', JSON.stringify(confirmPayment));
  return confirmPayment.tickets[0].barcode;
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  organizerToken = await logIn(backend.url, DEMO_ORGANIZER);
  [showId] = await showsOf(backend.url, 'Hamlet');
  barcode = await buyOne(backend.url, showId);
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

async function organizerPage() {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.addInitScript((t) => {
    if (!sessionStorage.getItem('boxoffice.token')) {
      sessionStorage.setItem('boxoffice.token', JSON.stringify(t));
      sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: '', name: 'Organizer', role: 'ORGANIZER' }));
    }
  }, organizerToken);
  const page = await context.newPage();
  const errors = [];
  watchConsole(page, errors);
  return { context, page, errors };
}

describe('organizer pages', () => {
  test('the door admits a typed barcode once, then refuses it, and counts who is in', { timeout: 60_000 }, async () => {
    const { context, page, errors } = await organizerPage();
    try {
      await page.goto(`${backend.url}/#/door/${showId}`);
      const input = page.getByLabel('Barcode');
      await input.waitFor({ timeout: 15_000 });
      await page.locator('.door-count', { hasText: '0 of 1 admitted' }).waitFor({ timeout: 10_000 });
      await input.fill(barcode.toLowerCase());
      await input.press('Enter');
      const ok = page.locator('.door-answer.door-ok');
      await ok.waitFor({ timeout: 10_000 });
      assert.match(await ok.innerText(), /Admitted/);
      assert.match(await ok.innerText(), /row .*, seat /);
      await page.locator('.door-count', { hasText: '1 of 1 admitted' }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: await artifactPath('door-admitted.png') });

      await input.fill(barcode);
      await page.getByRole('button', { name: 'Check in' }).click();
      const refused = page.locator('.door-answer.door-refused');
      await refused.waitFor({ timeout: 10_000 });
      assert.match(await refused.innerText(), /Already checked in/);
      await input.fill('BX1.FORGED');
      await input.press('Enter');
      await page.locator('.door-answer.door-refused', { hasText: 'Not a valid ticket' }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: await artifactPath('door-refused.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('the sales report shows the figures and a chart, and follows a sale live', { timeout: 90_000 }, async () => {
    const { context, page, errors } = await organizerPage();
    try {
      await page.goto(`${backend.url}/#/reports/${showId}`);
      const sold = page.locator('.report-figures div', { hasText: 'Sold' }).locator('dd');
      await sold.waitFor({ timeout: 15_000 });
      assert.match(await sold.innerText(), /^1 \/ \d+/);
      assert.equal(await page.locator('.report-figures div', { hasText: 'Checked in' }).locator('dd').innerText(), '1');
      // uPlot draws on a canvas inside the chart box, with its legend naming the series.
      await page.locator('.report-chart canvas').first().waitFor({ timeout: 10_000 });
      assert.match(await page.locator('.report-chart').innerText(), /Tickets sold \(total\)/);
      assert.ok(await page.locator('.report-sections tbody tr').count() >= 1);

      await buyOne(backend.url, showId); // another sale while the page is open: the poll picks it up
      await page.locator('.report-figures div', { hasText: 'Sold' }).locator('dd', { hasText: /^2 \// })
        .waitFor({ timeout: 20_000 });
      await page.screenshot({ path: await artifactPath('sales-report.png'), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
