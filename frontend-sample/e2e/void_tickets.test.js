// A void ticket on its buyer's order page: a fan passes one of their two tickets to a friend; their
// order page still lists it, marked void, with no QR code and no PDF to open; the other stays usable.
// Run: npm run build && node --test e2e/void_tickets.test.js
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { artifactPath, gql, launchBrowser, newFan, showsOf, startBackend, watchConsole } from './harness.js';

let backend;
let browser;

const REJECTED = '... on Rejected { code message }';
const key = () => `void-${Date.now()}-${Math.random()}`;

/** A new fan who bought two available seats of the show (GraphQL; the simulator's test card). */
async function buyTwo(url, show) {
  const fan = await newFan(url, 'void');
  const { show: s } = await gql(url, 'query($id: ID!) { show(id: $id) { seats { id status } } }', { id: show });
  const seats = s.seats.filter((x) => x.status === 'AVAILABLE').slice(0, 2).map((x) => x.id);
  const { holdSeats } = await gql(url, `mutation($i: HoldSeatsInput!) { holdSeats(input: $i) {
    __typename ... on Hold { id } ${REJECTED} } }`, { i: { showId: show, seatIds: seats, idempotencyKey: key() } }, fan.token);
  assert.equal(holdSeats.__typename, 'Hold', JSON.stringify(holdSeats));
  const { createOrder } = await gql(url, `mutation($i: CreateOrderInput!) { createOrder(input: $i) {
    __typename ... on Order { id } ${REJECTED} } }`, { i: { holdId: holdSeats.id, idempotencyKey: key() } }, fan.token);
  const { confirmPayment } = await gql(url, `mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
    __typename ... on Order { id status tickets { id } } ${REJECTED} } }`,
  { i: { orderId: createOrder.id, paymentMethod: 'pm_card_visa', idempotencyKey: key() } }, fan.token);
  assert.equal(confirmPayment.status, 'CONFIRMED', JSON.stringify(confirmPayment));
  return { ...fan, orderId: confirmPayment.id, tickets: confirmPayment.tickets };
}

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await backend?.stop();
});

describe('void tickets', () => {
  test('a ticket given to a friend shows as void on the buyer\'s order page', { timeout: 120_000 }, async () => {
    const [show] = await showsOf(backend.url, 'Hamlet');
    const buyer = await buyTwo(backend.url, show);
    const friend = await newFan(backend.url, 'friend');
    const { transferTicket } = await gql(backend.url, `mutation($t: ID!, $e: String!) { transferTicket(ticketId: $t, toEmail: $e) {
      __typename ... on TicketTransfer { id } ${REJECTED} } }`, { t: buyer.tickets[0].id, e: friend.email }, buyer.token);
    assert.equal(transferTicket.__typename, 'TicketTransfer', JSON.stringify(transferTicket));
    const { acceptTransfer } = await gql(backend.url, `mutation($x: ID!) { acceptTransfer(transferId: $x) {
      __typename ... on Ticket { id } ${REJECTED} } }`, { x: transferTicket.id }, friend.token);
    assert.equal(acceptTransfer.__typename, 'Ticket', JSON.stringify(acceptTransfer));

    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    await context.addInitScript((t) => {
      sessionStorage.setItem('boxoffice.token', JSON.stringify(t));
      sessionStorage.setItem('boxoffice.user', JSON.stringify({ id: '', email: '', name: 'Fan', role: 'FAN' }));
    }, buyer.token);
    const page = await context.newPage();
    const errors = [];
    watchConsole(page, errors);
    try {
      await page.goto(`${backend.url}/#/orders/${buyer.orderId}`);
      const voided = page.locator('.ticket-void');
      await voided.waitFor({ timeout: 15_000 });
      assert.equal(await voided.count(), 1, 'the ticket given away, once');
      assert.match(await voided.innerText(), /Void/);
      assert.equal(await voided.locator('img, button').count(), 0, 'no code to scan, no PDF to open');
      assert.equal(await page.locator('img.ticket-qr').count(), 1, 'the ticket kept still has its code');
      assert.equal(await page.locator('.ticket-link').count(), 1);
      await page.screenshot({ path: await artifactPath('order-void-ticket.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
