// After the sale, in the browser: a fan sends a ticket to a friend who accepts it, and lists another
// ticket for resale that a third fan buys through the usual checkout.
// Run: npm run build && node --test e2e/after_sale.test.js
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  artifactPath, DEMO_ORGANIZER, gql, launchBrowser, logIn, newFan, startBackend, watchConsole,
} from './harness.js';

let backend;
let browser;
let showId;
let seller;

/** A published show of three seats, all bought by `seller` (paid with the simulator's visa). */
async function soldShow(url) {
  const organizer = await logIn(url, DEMO_ORGANIZER);
  const { createVenue } = await gql(url, `mutation($i: VenueInput!) { createVenue(input: $i) {
    __typename ... on Venue { id } ... on Rejected { code message } } }`,
  { i: { name: `Hall ${Date.now()}`, city: 'Lisbon', sections: [{ name: 'Stalls', rows: [{ label: 'A', seatCount: 3 }] }] } }, organizer);
  const { createEvent } = await gql(url, `mutation($i: EventInput!) { createEvent(input: $i) {
    __typename ... on Event { id } ... on Rejected { code message } } }`,
  { i: { name: 'Second Hand Night', performer: 'The Resellers', category: 'concert', venueId: createVenue.id } }, organizer);
  const { createShow } = await gql(url, `mutation($i: ShowInput!) { createShow(input: $i) {
    __typename ... on Show { id seats { id } } ... on Rejected { code message } } }`,
  { i: { eventId: createEvent.id, currency: 'EUR', startsAt: new Date(Date.now() + 7 * 864e5).toISOString(),
    priceTiers: [{ name: 'Stalls', priceCents: 3000, sections: ['Stalls'] }] } }, organizer);
  assert.equal(createShow.__typename, 'Show', JSON.stringify(createShow));
  await gql(url, 'mutation($id: ID!) { publishEvent(eventId: $id) { __typename } }', { id: createEvent.id }, organizer);
  seller = await newFan(url, 'seller');
  const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
    __typename ... on Hold { id } ... on Rejected { code message } } }`,
  { i: { showId: createShow.id, seatIds: createShow.seats.map((s) => s.id), idempotencyKey: `as-${Date.now()}` } }, seller.token);
  const { createOrder } = await gql(url, `mutation($i: CreateOrderInput!) { createOrder(input: $i) {
    __typename ... on Order { id } ... on Rejected { code message } } }`,
  { i: { holdId: holdSeats.id, idempotencyKey: `as-order-${Date.now()}` } }, seller.token);
  const { confirmPayment } = await gql(url, `mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
    __typename ... on Order { status } ... on Rejected { code message } } }`,
  { i: { orderId: createOrder.id, paymentMethod: 'pm_card_visa', idempotencyKey: `as-pay-${Date.now()}` } }, seller.token);
  assert.equal(confirmPayment.status, 'CONFIRMED', JSON.stringify(confirmPayment));
  return createShow.id;
}

async function pageOf(fan, label) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.addInitScript((f) => {
    if (!sessionStorage.getItem('boxoffice.token')) {
      sessionStorage.setItem('boxoffice.token', JSON.stringify(f.token));
      sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: f.email, name: f.label, role: 'FAN' }));
    }
  }, { ...fan, label });
  return { context, page: await context.newPage() };
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  showId = await soldShow(backend.url);
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

describe('after the sale', () => {
  test('a fan sends a ticket to a friend, who accepts it', { timeout: 120_000 }, async () => {
    const friend = await newFan(backend.url, 'friend');
    const errors = [];
    const s = await pageOf(seller, 'E2E seller');
    const f = await pageOf(friend, 'E2E friend');
    watchConsole(s.page, errors);
    watchConsole(f.page, errors);
    try {
      await s.page.goto(`${backend.url}/#/tickets`);
      await s.page.getByRole('heading', { name: 'My tickets' }).waitFor();
      const first = s.page.locator('.ticket-row', { has: s.page.getByRole('button', { name: 'Send ticket' }) }).first();
      await first.getByLabel('Friend\u2019s e-mail').fill(friend.email);
      await first.getByRole('button', { name: 'Send ticket' }).click();
      await s.page.locator('.transfer-pending', { hasText: `Offered to ${friend.email.toLowerCase()}` }).waitFor({ timeout: 15_000 });
      await s.page.screenshot({ path: await artifactPath('after-sale-sent.png') });

      await f.page.goto(`${backend.url}/#/tickets`);
      await f.page.getByRole('button', { name: 'Accept ticket' }).click();
      await f.page.getByText('The ticket is yours, with its own new code.').waitFor({ timeout: 15_000 });
      await f.page.locator('.my-tickets .ticket-row', { hasText: 'row A' }).first().waitFor({ timeout: 15_000 });
      await f.page.screenshot({ path: await artifactPath('after-sale-accepted.png') });
      assert.deepEqual(errors, []);
    } finally {
      await s.context.close();
      await f.context.close();
    }
  });

  test('a fan lists a ticket at face value and another fan buys it', { timeout: 120_000 }, async () => {
    const buyer = await newFan(backend.url, 'buyer');
    const errors = [];
    const s = await pageOf(seller, 'E2E seller');
    const b = await pageOf(buyer, 'E2E buyer');
    watchConsole(s.page, errors);
    watchConsole(b.page, errors);
    try {
      await s.page.goto(`${backend.url}/#/tickets`);
      await s.page.getByRole('link', { name: 'Sell at face value' }).first().click();
      await s.page.getByLabel('Price (EUR)').fill('40');
      await s.page.getByRole('button', { name: 'List for resale' }).click();
      await s.page.getByRole('alert').filter({ hasText: /most this ticket can be listed for/ }).waitFor({ timeout: 15_000 });
      await s.page.getByLabel('Price (EUR)').fill('25');
      await s.page.getByRole('button', { name: 'List for resale' }).click();
      await s.page.locator('.my-listing', { hasText: 'listed' }).waitFor({ timeout: 15_000 });

      await b.page.goto(`${backend.url}/#/shows/${showId}/resale`);
      await b.page.locator('.resale-listing', { hasText: '25' }).getByRole('button', { name: 'Buy' }).click();
      await b.page.locator('#card-pm_card_visa').check();
      await b.page.locator('.pay-button').click();
      await b.page.locator('h1.order-confirmed').waitFor({ timeout: 30_000 });
      await b.page.screenshot({ path: await artifactPath('after-sale-resold.png') });

      await s.page.reload();
      await s.page.locator('.my-listing', { hasText: 'sold' }).waitFor({ timeout: 15_000 });
      assert.deepEqual(errors, []);
    } finally {
      await s.context.close();
      await b.context.close();
    }
  });
});
