// The waitlist in the browser: a fan joins the waitlist of a sold-out show, is shown their place in
// line, is offered the seats when they come back (the server's offer job; the screen polls), and buys
// them through the usual checkout.
// Run: npm run build && node --test e2e/waitlist.test.js
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
let showId;
let holder;
let holdId;

/** A published show of two seats, both held by another fan: sold out, nothing on open sale. */
async function soldOutShow(url) {
  const organizer = await logIn(url, DEMO_ORGANIZER);
  const { createVenue } = await gql(url, `mutation($i: VenueInput!) { createVenue(input: $i) {
    __typename ... on Venue { id } ... on Rejected { code message } } }`,
  { i: { name: `Club ${Date.now()}`, city: 'Lisbon', sections: [{ name: 'Pit', rows: [{ label: 'A', seatCount: 2 }] }] } }, organizer);
  const { createEvent } = await gql(url, `mutation($i: EventInput!) { createEvent(input: $i) {
    __typename ... on Event { id } ... on Rejected { code message } } }`,
  { i: { name: 'Waitlist Night', performer: 'The Queue', category: 'concert', venueId: createVenue.id } }, organizer);
  const { createShow } = await gql(url, `mutation($i: ShowInput!) { createShow(input: $i) {
    __typename ... on Show { id seats { id } } ... on Rejected { code message } } }`,
  { i: { eventId: createEvent.id, currency: 'EUR', startsAt: new Date(Date.now() + 7 * 864e5).toISOString(),
    priceTiers: [{ name: 'Pit', priceCents: 3000, sections: ['Pit'] }] } }, organizer);
  assert.equal(createShow.__typename, 'Show', JSON.stringify(createShow));
  await gql(url, 'mutation($id: ID!) { publishEvent(eventId: $id) { __typename } }', { id: createEvent.id }, organizer);
  holder = await newFan(url, 'holder');
  const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
    __typename ... on Hold { id } ... on Rejected { code message } } }`,
  { i: { showId: createShow.id, seatIds: createShow.seats.map((s) => s.id), idempotencyKey: `wl-${Date.now()}` } }, holder.token);
  assert.equal(holdSeats.__typename, 'Hold', JSON.stringify(holdSeats));
  holdId = holdSeats.id;
  return createShow.id;
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  showId = await soldOutShow(backend.url);
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

describe('waitlist', () => {
  test('a fan joins the waitlist of a sold-out show, is offered returning seats and buys them', { timeout: 120_000 }, async () => {
    const fan = await newFan(backend.url, 'waiter');
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    await context.addInitScript((f) => {
      if (!sessionStorage.getItem('boxoffice.token')) {
        sessionStorage.setItem('boxoffice.token', JSON.stringify(f.token));
        sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: f.email, name: 'E2E waiter', role: 'FAN' }));
      }
    }, fan);
    const page = await context.newPage();
    const errors = [];
    const operations = new Set();
    watchConsole(page, errors);
    recordOperations(page, operations);
    try {
      await page.goto(`${backend.url}/#/shows/${showId}`);
      await page.getByRole('link', { name: 'Join the waitlist' }).click();
      await page.getByLabel('Tickets').fill('2');
      await page.getByRole('button', { name: 'Join the waitlist' }).click();
      await page.locator('.waitlist-position', { hasText: 'You are next in line.' }).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: await artifactPath('waitlist-waiting.png') });

      // The holder lets the seats go: they are offered to the fan, not put on open sale.
      await gql(backend.url, 'mutation($id: ID!) { releaseHold(holdId: $id) { __typename } }', { id: holdId }, holder.token);
      await page.getByRole('heading', { name: 'Seats are waiting for you' }).waitFor({ timeout: 20_000 });
      assert.match(await page.locator('.waitlist').innerText(), /Your seats are held for/);
      assert.match(await page.locator('.waitlist').innerText(), /row A, seat 1/);
      await page.screenshot({ path: await artifactPath('waitlist-offer.png') });

      await page.getByRole('link', { name: 'Buy now' }).click();
      await page.locator('#card-pm_card_visa').check();
      await page.locator('.pay-button').click();
      await page.locator('h1.order-confirmed').waitFor({ timeout: 30_000 });
      await page.goto(`${backend.url}/#/account`); // the account lists live waitlists: none left
      await page.locator('.order-item').first().waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('.waitlists').count(), 0);
      assert.deepEqual(errors, []);

      // Every document the waitlist pages sent is valid against the contract and its additions.
      const { file, text } = await contractSchemaText();
      const schema = buildSchema(`${text}\n${await readFile(path.resolve(path.dirname(file), 'next.graphql'), 'utf8')}`);
      const invalid = [...operations].filter((q) => validate(schema, parse(q)).length);
      assert.ok(operations.size >= 4 && invalid.length === 0, invalid.join('\n'));
    } finally {
      await context.close();
    }
  });
});
