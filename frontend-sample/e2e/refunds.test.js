// Refunds and cancelled shows in the browser: a fan refunds their own order from the order page
// while the show's policy allows it; when the organizer cancels a show, its event page and the
// fans' order pages say so, and the order reads refunded.
// Run: npm run build && node --test e2e/refunds.test.js
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  artifactPath, DEMO_ORGANIZER, gql, launchBrowser, logIn, newFan, showsOf, startBackend, watchConsole,
} from './harness.js';

let backend;
let browser;
let organizerToken;
let shows;

const POLICY = `mutation($s: ID!, $i: RefundPolicyInput!) { setRefundPolicy(showId: $s, input: $i) {
  __typename ... on Rejected { code message } } }`;
const CANCEL = `mutation($s: ID!, $r: String!) { cancelShow(showId: $s, reason: $r) {
  __typename ... on Show { status } ... on Rejected { code message } } }`;

/** A new fan who bought the first available seat of the show (GraphQL; the simulator's test card). */
async function buyOne(url, show) {
  const fan = await newFan(url, 'refund');
  const { show: s } = await gql(url, 'query($id: ID!) { show(id: $id) { seats { id status } } }', { id: show });
  const seat = s.seats.find((x) => x.status === 'AVAILABLE');
  const key = () => `refund-${Date.now()}-${Math.random()}`;
  const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
    __typename ... on Hold { id } ... on Rejected { code message } } }`,
  { i: { showId: show, seatIds: [seat.id], idempotencyKey: key() } }, fan.token);
  assert.equal(holdSeats.__typename, 'Hold', JSON.stringify(holdSeats));
  const { createOrder } = await gql(url, `mutation($i: CreateOrderInput!) { createOrder(input: $i) {
    __typename ... on Order { id } ... on Rejected { code message } } }`,
  { i: { holdId: holdSeats.id, idempotencyKey: key() } }, fan.token);
  const { confirmPayment } = await gql(url, `mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
    __typename ... on Order { id status } ... on Rejected { code message } } }`,
  { i: { orderId: createOrder.id, paymentMethod: 'pm_card_visa', idempotencyKey: key() } }, fan.token);
  assert.equal(confirmPayment.status, 'CONFIRMED', JSON.stringify(confirmPayment));
  return { ...fan, orderId: confirmPayment.id };
}

/** Waits for a condition the server reports (checked every 200 ms, at most 60 s). */
async function until(check) {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function fanPage(fan) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.addInitScript((t) => {
    if (!sessionStorage.getItem('boxoffice.token')) {
      sessionStorage.setItem('boxoffice.token', JSON.stringify(t));
      sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: '', name: 'Fan', role: 'FAN' }));
    }
  }, fan.token);
  const page = await context.newPage();
  const errors = [];
  watchConsole(page, errors);
  return { context, page, errors };
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  organizerToken = await logIn(backend.url, DEMO_ORGANIZER);
  shows = await showsOf(backend.url, 'Hamlet');
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

describe('refunds', () => {
  test('a fan refunds their order from the order page while the policy allows it', { timeout: 90_000 }, async () => {
    const fan = await buyOne(backend.url, shows[0]);
    const { context, page, errors } = await fanPage(fan);
    try {
      await page.goto(`${backend.url}/#/orders/${fan.orderId}`);
      await page.getByRole('heading', { name: /You're going/ }).waitFor({ timeout: 15_000 });
      assert.equal(await page.getByRole('button', { name: /Refund this order/ }).count(), 0, 'no policy: no button');

      const { setRefundPolicy } = await gql(backend.url, POLICY, { s: shows[0], i: { fanRefundsUntilHoursBefore: 24 } },
        organizerToken);
      assert.equal(setRefundPolicy.__typename, 'Show', JSON.stringify(setRefundPolicy));
      await page.reload();
      const refund = page.getByRole('button', { name: /Refund this order/ });
      await refund.waitFor({ timeout: 15_000 });
      assert.match(await page.locator('.refund-box').innerText(), /You can refund this order until/);
      await refund.click();
      await page.getByRole('heading', { name: 'Order refunded' }).waitFor({ timeout: 15_000 });
      assert.match(await page.locator('.notice').innerText(), /went back to your card/);
      assert.equal(await page.getByRole('button', { name: /Refund this order/ }).count(), 0);
      await page.screenshot({ path: await artifactPath('order-refunded.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a cancelled show says so on its event page and on its fans\' order pages', { timeout: 120_000 }, async () => {
    const fan = await buyOne(backend.url, shows[1]);
    const { cancelShow } = await gql(backend.url, CANCEL, { s: shows[1], r: 'The lead actor is ill' }, organizerToken);
    assert.equal(cancelShow.status, 'CANCELLED', JSON.stringify(cancelShow));
    const { context, page, errors } = await fanPage(fan);
    try {
      await page.goto(`${backend.url}/#/orders/${fan.orderId}`);
      const banner = page.locator('.cancelled-banner');
      await banner.waitFor({ timeout: 15_000 });
      assert.match(await banner.innerText(), /This show is cancelled/);
      // The show's refund job returns the money in the background: once it has, the page says so.
      await until(async () => (await gql(backend.url, 'query($id: ID!) { order(id: $id) { payment { status } } }',
        { id: fan.orderId }, fan.token)).order.payment.status === 'REFUNDED');
      await page.reload();
      await banner.waitFor({ timeout: 15_000 });
      assert.match(await banner.innerText(), /refunded in full/);
      assert.match(await banner.innerText(), /went back to your card/);
      await page.getByRole('heading', { name: 'Order refunded' }).waitFor();
      await page.screenshot({ path: await artifactPath('order-show-cancelled.png') });

      const { show } = await gql(backend.url, 'query($id: ID!) { show(id: $id) { event { id } } }', { id: shows[1] });
      await page.goto(`${backend.url}/#/events/${show.event.id}`);
      const cancelled = page.locator('.show-cancelled');
      await cancelled.waitFor({ timeout: 15_000 });
      assert.match(await cancelled.innerText(), /Cancelled/);
      assert.equal(await page.locator('.show-card').count(), 3, 'the other Hamlet shows are still on sale');
      assert.equal(await cancelled.getByRole('link').count(), 0, 'no way to pick seats of a cancelled show');
      await page.screenshot({ path: await artifactPath('event-show-cancelled.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
