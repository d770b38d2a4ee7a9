// Amounts in a zero-decimal currency (JPY: the API's *Cents are whole yen) on the show page, at checkout,
// on the bank's 3-D Secure page and in a resale listing; a ticket received from a friend with its QR code
// and PDF; and "My tickets" reaching a ticket in an order older than the newest fifty.
// Run: npm run build && node --test e2e/my_tickets.test.js
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import {
  artifactPath, contractSchemaText, DEMO_ORGANIZER, gql, launchBrowser, logIn, newFan, recordOperations, startBackend,
  watchConsole,
} from './harness.js';

let backend;
let browser;
let jpyShow;
const operations = new Set(); // every GraphQL document the app sent, checked against the contract at the end

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const norm = (text) => text.replace(/\s+/g, ' ');

function ok(data, key) {
  assert.notEqual(data[key].__typename, 'Rejected', `${key}: ${data[key].code} ${data[key].message}`);
  return data[key];
}

/** A published JPY show: four seats (row A of the Stalls) and a standing Floor, all at ¥5,000 (5000 in the API). */
async function createJpyShow(url) {
  const organizer = await logIn(url, DEMO_ORGANIZER);
  const venue = ok(await gql(url, `mutation($i: VenueInput!) { createVenue(input: $i) {
    __typename ... on Venue { id } ... on Rejected { code message } } }`,
  { i: { name: `Tokyo Hall ${Date.now()}`, city: 'Tokyo', timeZone: 'Asia/Tokyo', sections: [
    { name: 'Stalls', rows: [{ label: 'A', seatCount: 4 }] },
    { name: 'Floor', generalAdmissionCapacity: 80 }] } }, organizer), 'createVenue');
  const event = ok(await gql(url, `mutation($i: EventInput!) { createEvent(input: $i) {
    __typename ... on Event { id } ... on Rejected { code message } } }`,
  { i: { name: 'Yen Night', performer: 'The Zero Decimals', category: 'concert', venueId: venue.id } }, organizer), 'createEvent');
  const show = ok(await gql(url, `mutation($i: ShowInput!) { createShow(input: $i) {
    __typename ... on Show { id seats { id } availability { sections { sectionId name } } } ... on Rejected { code message } } }`,
  { i: { eventId: event.id, currency: 'JPY', startsAt: new Date(Date.now() + 14 * 864e5).toISOString(), maxTicketsPerUser: 100,
    priceTiers: [{ name: 'Stalls', priceCents: 5000, sections: ['Stalls'] }, { name: 'Floor', priceCents: 5000, sections: ['Floor'] }] } },
  organizer), 'createShow');
  ok(await gql(url, 'mutation($id: ID!) { publishEvent(eventId: $id) { __typename ... on Rejected { code message } } }', { id: event.id }, organizer),
    'publishEvent');
  const floor = show.availability.sections.find((s) => s.name === 'Floor').sectionId;
  return { id: show.id, seatIds: show.seats.map((s) => s.id), floor };
}

let keys = 0;
const key = (label) => `${label}-${Date.now()}-${++keys}`;

/** A hold (seats or standing places), retried while the per-user hold rate limit says so. */
async function holdOf(url, fan, input) {
  for (;;) {
    const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
      __typename ... on Hold { id } ... on Rejected { code message retryAfterSeconds } ... on Problem { code message } } }`,
    { i: { showId: jpyShow.id, seatIds: [], generalAdmission: [], idempotencyKey: key('hold'), ...input } }, fan.token);
    if (holdSeats.code === 'RATE_LIMITED') {
      await sleep(1000 * Math.max(0.5, holdSeats.retryAfterSeconds ?? 1));
      continue;
    }
    assert.equal(holdSeats.__typename, 'Hold', `holdSeats: ${holdSeats.code} ${holdSeats.message}`);
    return holdSeats.id;
  }
}

async function orderOf(url, fan, holdId) {
  return ok(await gql(url, `mutation($i: CreateOrderInput!) { createOrder(input: $i) {
    __typename ... on Order { id } ... on Rejected { code message } } }`, { i: { holdId, idempotencyKey: key('order') } }, fan.token),
  'createOrder');
}

/** Buys through the API (the simulator's visa); returns the confirmed order's tickets. */
async function buy(url, fan, input) {
  const order = await orderOf(url, fan, await holdOf(url, fan, input));
  const paid = ok(await gql(url, `mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
    __typename ... on Order { status tickets { id } } ... on Rejected { code message } } }`,
  { i: { orderId: order.id, paymentMethod: 'pm_card_visa', idempotencyKey: key('pay') } }, fan.token), 'confirmPayment');
  assert.equal(paid.status, 'CONFIRMED');
  return paid.tickets;
}

async function pageOf(fan, label) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  await context.addInitScript((f) => {
    if (!sessionStorage.getItem('boxoffice.token')) {
      sessionStorage.setItem('boxoffice.token', JSON.stringify(f.token));
      sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: f.email, name: f.label, role: 'FAN' }));
    }
  }, { ...fan, label });
  const page = await context.newPage();
  const errors = [];
  watchConsole(page, errors);
  recordOperations(page, operations);
  return { context, page, errors };
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  jpyShow = await createJpyShow(backend.url);
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

describe('amounts in a zero-decimal currency', () => {
  test('a ¥5,000 ticket reads ¥5,000 on the show page, at checkout, on the bank page and on the order', { timeout: 120_000 }, async () => {
    const fan = await newFan(backend.url, 'yen');
    const p = await pageOf(fan, 'E2E yen');
    try {
      await p.page.goto(`${backend.url}/#/shows/${jpyShow.id}`);
      const more = p.page.getByRole('button', { name: 'One more for Floor' });
      await more.waitFor({ timeout: 20_000 });
      await p.page.getByText(/¥5,000/).first().waitFor({ timeout: 10_000 });
      assert.doesNotMatch(norm(await p.page.locator('main').innerText()), /¥50(?![,\d])/, 'no price a hundred times too low');
      await more.click();
      await p.page.locator('.hold-button').click();
      await p.page.locator('.hold-panel:not([hidden])').waitFor({ timeout: 15_000 });
      await p.page.locator('.checkout-link').click();
      const pay = p.page.locator('.pay-button');
      await pay.waitFor({ timeout: 10_000 });
      assert.equal(norm(await pay.innerText()).trim(), 'Pay ¥5,000');
      assert.match(norm(await p.page.locator('.total').innerText()), /Total ¥5,000/);

      // The simulator's 3-D Secure page shows the same amount, in yen.
      await p.page.locator('#card-pm_card_authenticationRequired').check();
      const [bank] = await Promise.all([p.context.waitForEvent('page', { timeout: 20_000 }), pay.click()]);
      await bank.locator('#complete').waitFor({ timeout: 15_000 });
      assert.match(norm(await bank.locator('body').innerText()), /of 5,000 JPY\./);
      await bank.locator('#complete').click();
      await p.page.locator('h1.order-confirmed').waitFor({ timeout: 30_000 });
      assert.match(norm(await p.page.locator('main').innerText()), /Total ¥5,000/);
      await p.page.screenshot({ path: await artifactPath('jpy-confirmed.png'), fullPage: true });
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context.close();
    }
  });

  test('a JPY ticket is listed for resale at its face value, typed in yen', { timeout: 120_000 }, async () => {
    const seller = await newFan(backend.url, 'yen-seller');
    await buy(backend.url, seller, { seatIds: [jpyShow.seatIds[0]] });
    const s = await pageOf(seller, 'E2E yen seller');
    try {
      await s.page.goto(`${backend.url}/#/tickets`);
      await s.page.getByRole('link', { name: 'Sell at face value' }).first().click();
      await s.page.getByLabel('Price (JPY)').fill('5000');
      await s.page.getByRole('button', { name: 'List for resale' }).click();
      const listing = s.page.locator('.my-listing', { hasText: 'listed' });
      await listing.waitFor({ timeout: 15_000 });
      assert.match(norm(await listing.innerText()), /¥5,000 · listed/);
      const { viewer } = await gql(backend.url, '{ viewer { resaleListings { priceCents faceValueCents status } } }', {}, seller.token);
      assert.deepEqual(viewer.resaleListings, [{ priceCents: 5000, faceValueCents: 5000, status: 'LISTED' }]);
      assert.deepEqual(s.errors, []);
    } finally {
      await s.context.close();
    }
  });
});

describe('my tickets', () => {
  test('a ticket received from a friend shows its QR code, barcode and PDF', { timeout: 120_000 }, async () => {
    const sender = await newFan(backend.url, 'giver');
    const friend = await newFan(backend.url, 'receiver');
    const [ticket] = await buy(backend.url, sender, { seatIds: [jpyShow.seatIds[1]] });
    const transfer = ok(await gql(backend.url, `mutation($t: ID!, $e: String!) { transferTicket(ticketId: $t, toEmail: $e) {
      __typename ... on TicketTransfer { id } ... on Rejected { code message } } }`, { t: ticket.id, e: friend.email }, sender.token), 'transferTicket');
    const accepted = ok(await gql(backend.url, `mutation($x: ID!) { acceptTransfer(transferId: $x) {
      __typename ... on Ticket { id barcode } ... on Rejected { code message } } }`, { x: transfer.id }, friend.token), 'acceptTransfer');

    const f = await pageOf(friend, 'E2E receiver');
    try {
      await f.page.goto(`${backend.url}/#/tickets`);
      const row = f.page.locator('.my-tickets .ticket-row', { hasText: 'row A, seat 2' });
      await row.waitFor({ timeout: 15_000 });
      const qr = row.locator('img.ticket-qr');
      await qr.waitFor({ timeout: 10_000 });
      assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml/);
      assert.match(await qr.getAttribute('alt'), /QR code to scan at the door/);
      assert.equal((await row.locator('.barcode code').innerText()).trim(), accepted.barcode);
      // The friend can still pass it on.
      await row.getByRole('button', { name: 'Send ticket' }).waitFor();

      const [pdf, popup] = await Promise.all([
        f.page.waitForResponse((r) => /\/tickets\/[^/]+\.pdf/.test(r.url()), { timeout: 15_000 }),
        f.context.waitForEvent('page', { timeout: 15_000 }),
        row.getByRole('button', { name: /Open ticket \(PDF\)/ }).click(),
      ]);
      assert.equal(pdf.status(), 200, `ticket PDF answered ${pdf.status()}`);
      assert.ok(pdf.url().includes(`/tickets/${accepted.id}.pdf`), pdf.url());
      await popup.waitForURL(/^blob:/, { timeout: 10_000 }).catch(() => undefined);
      const magic = await f.page.evaluate(async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        return String.fromCharCode(...bytes.slice(0, 4));
      }, popup.url());
      assert.equal(magic, '%PDF');
      await popup.close().catch(() => undefined);
      await f.page.screenshot({ path: await artifactPath('my-tickets-received.png'), fullPage: true });
      assert.deepEqual(f.errors, []);
    } finally {
      await f.context.close();
    }
  });

  test('a ticket in an order older than the newest fifty can still be sent or resold', { timeout: 240_000 }, async () => {
    const fan = await newFan(backend.url, 'many-orders');
    const [oldest] = await buy(backend.url, fan, { seatIds: [jpyShow.seatIds[2]] });
    // Fifty newer orders (left unpaid: none of them has a ticket), so the paid one is on the second page.
    for (let i = 0; i < 50; i += 1) {
      await orderOf(backend.url, fan, await holdOf(backend.url, fan, { generalAdmission: [{ sectionId: jpyShow.floor, quantity: 1 }] }));
    }
    const p = await pageOf(fan, 'E2E many orders');
    try {
      await p.page.goto(`${backend.url}/#/tickets`);
      const row = p.page.locator(`.my-tickets .ticket-row[data-ticket="${oldest.id}"]`);
      await row.waitFor({ timeout: 20_000 });
      await row.getByRole('button', { name: 'Send ticket' }).waitFor();
      await row.getByRole('link', { name: 'Sell at face value' }).waitFor();
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context.close();
    }
  });
});

test('every GraphQL operation these screens sent is valid against the public contract', async () => {
  const { file, text } = await contractSchemaText();
  const schema = buildSchema(`${text}\n${await readFile(path.resolve(path.dirname(file), 'next.graphql'), 'utf8')}`);
  assert.ok([...operations].some((q) => q.includes('query MyTickets')), 'the My tickets document was recorded');
  const problems = [];
  for (const query of operations) {
    const errors = validate(schema, parse(query));
    if (errors.length) problems.push(`${query.trim().split('\n')[0]}\n  ${errors.map((e) => e.message).join('\n  ')}`);
  }
  assert.deepEqual(problems, [], `operations invalid against ${file}`);
});
