// The confirmation screen: an order's status and, once confirmed, its tickets.
import { describeError, gqlIdempotent, newIdempotencyKey, serverNow } from '../api';
import { currentUser } from '../auth';
import { fill, h, notice } from '../dom';
import { dateTime, money } from '../format';
import { fetchOrder, ORDER_FIELDS, settled, watchOrder } from '../orders';
import { currentPath, missing, navigate, titled, type ScreenContext } from '../router';
import { orderForHold } from '../session';
import type { Order, Rejected } from '../types';
import { ticketList } from '../widgets';
import { calendarLink } from '../calendar';

export async function orderScreen({ root, params, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading your order…'));
  let order: Order | null;
  try {
    order = await fetchOrder(params.id, signal);
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!order) {
    missing(root, 'Order not found', 'Order not found',
      h('p', {}, 'This order does not exist or belongs to another account. ', h('a', { href: '#/account' }, 'See your orders')));
    return;
  }
  render(root, order, true);
  if (!settled(order)) watchOrder(order.id, signal, (next) => render(root, next, false));
}

const HEADINGS: Record<Order['status'], string> = {
  CONFIRMED: "You're going! Your tickets are ready",
  PENDING_PAYMENT: 'Waiting for your payment',
  CANCELLED: 'Order cancelled',
  REFUNDED: 'Order refunded',
  DISPUTED: 'Payment disputed: these tickets are void',
};

function render(root: HTMLElement, order: Order, first: boolean): void {
  const heading = h('h1', { class: `order-${order.status.toLowerCase()}` }, HEADINGS[order.status]);
  const sections = order.show.availability?.sections ?? [];
  fill(root,
    heading,
    order.show.status === 'CANCELLED' ? cancelledBanner(order) : null,
    h('section', { class: 'card confirmation', 'aria-labelledby': 'order-title' },
      h('h2', { id: 'order-title' }, order.show.event.name),
      h('p', {}, `${dateTime(order.show.startsAt, order.show.event.venue.timeZone)} · ${order.show.event.venue.name}, ${order.show.event.venue.city}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Order'), h('dd', {}, h('code', {}, order.id)),
        h('dt', {}, 'Status'), h('dd', { class: 'order-status' }, order.status.replace('_', ' ').toLowerCase()),
        h('dt', {}, 'Total'), h('dd', {}, money(order.totalCents, order.currency)),
        h('dt', {}, 'Placed'), h('dd', {}, dateTime(order.createdAt, order.show.event.venue.timeZone)))),
    order.status === 'CONFIRMED'
      ? h('section', { 'aria-labelledby': 'tickets-title' },
        h('h2', { id: 'tickets-title' }, `Tickets (${order.tickets.length})`),
        h('p', { class: 'muted' }, 'Show the QR code at the door, on paper or on your phone.'),
        h('p', {}, calendarLink({
          uid: `order-${order.id}@boxoffice`,
          title: order.show.event.name,
          startsAt: order.show.startsAt,
          timeZone: order.show.event.venue.timeZone,
          location: `${order.show.event.venue.name}, ${order.show.event.venue.city}`,
          description: `${order.tickets.length} ticket(s), order ${order.id}`,
        }, `${order.show.event.name.replace(/[^\w-]+/g, '-')}.ics`)),
        refundBox(root, order),
        ticketList(order.tickets, sections))
      : order.status === 'PENDING_PAYMENT' ? pendingNotice(order)
        : order.status === 'REFUNDED' && order.show.status !== 'CANCELLED' ? refundedNotice(order) : null,
    h('p', {}, h('a', { href: '#/account' }, 'All your orders'), ' · ', h('a', { href: `#/shows/${encodeURIComponent(order.show.id)}` }, 'Back to the show')));
  titled(root, heading, first ? 'Your order' : HEADINGS[order.status]);
}

function pendingNotice(order: Order): HTMLElement {
  const payment = order.payment;
  if (payment?.status === 'FAILED' || payment?.status === 'CANCELED' || (payment?.status === 'REQUIRES_PAYMENT_METHOD' && payment.failureReason)) {
    const holdId = orderForHold.holdOf(order.id);
    return notice('error', 'Your card was declined — try another card. Your seats stay reserved until the hold runs out.',
      holdId ? h('a', { class: 'button primary', href: `#/checkout/${encodeURIComponent(holdId)}` }, 'Back to checkout') : null);
  }
  if (payment?.status === 'REQUIRES_ACTION') {
    return notice('info', 'Your bank is waiting for you to confirm the payment (3-D Secure). This page updates by itself.',
      payment.nextActionUrl ? h('a', { class: 'button', href: payment.nextActionUrl, target: '_blank', rel: 'noopener' }, 'Verify with your bank') : null);
  }
  return notice('info', 'We are confirming your payment. This page updates by itself.');
}

// ------------------------------------------------------------------ refunds and cancelled shows

const REFUND = `mutation RefundOrder($orderId: ID!, $key: String!) {
  refundOrder(orderId: $orderId, idempotencyKey: $key) {
    __typename ... on Order { ${ORDER_FIELDS} } ... on Rejected { code message field } } }`;

function moneyBack(order: Order): string {
  return order.payment?.status === 'REFUNDED'
    ? `${money(order.totalCents, order.currency)} went back to your card; it can take a few days to show on your statement.`
    : `${money(order.totalCents, order.currency)} is on its way back to your card.`;
}

function cancelledBanner(order: Order): HTMLElement {
  return h('div', { class: 'notice notice-error cancelled-banner', role: 'alert' },
    h('p', {}, h('strong', {}, 'This show is cancelled.')),
    h('p', {}, order.status === 'REFUNDED' || order.status === 'CONFIRMED'
      ? `Your tickets are no longer valid and your order is refunded in full: ${moneyBack(order)}`
      : 'Nothing was charged for this order.'));
}

function refundedNotice(order: Order): HTMLElement {
  return notice('info', `Your tickets are no longer valid. ${moneyBack(order)}`);
}

/** When the show's refund policy still allows it: a button that refunds the whole order (fans only). */
function refundBox(root: HTMLElement, order: Order): HTMLElement | null {
  const hours = order.show.refundPolicy?.fanRefundsUntilHoursBefore;
  if (order.show.status === 'CANCELLED' || hours == null) return null;
  const until = Date.parse(order.show.startsAt) - hours * 3_600_000;
  if (serverNow() > until) return null;
  const key = newIdempotencyKey(); // one per page: a retried click never refunds twice
  const status = h('p', { role: 'status', class: 'muted' },
    `You can refund this order until ${dateTime(new Date(until).toISOString(), order.show.event.venue.timeZone)}.`);
  const button = h('button', { class: 'button', type: 'button' }, `Refund this order (${money(order.totalCents, order.currency)})`);
  button.addEventListener('click', async () => {
    button.setAttribute('disabled', '');
    status.textContent = 'Refunding…';
    try {
      const { refundOrder } = await gqlIdempotent<{ refundOrder: Order | Rejected }>(REFUND, { orderId: order.id, key });
      if (refundOrder.__typename === 'Rejected') {
        status.replaceWith(notice('error', refundOrder.message));
        return;
      }
      render(root, refundOrder, false);
    } catch (error) {
      status.replaceWith(notice('error', describeError(error)));
      button.removeAttribute('disabled');
    }
  });
  return h('div', { class: 'refund-box' }, status, button);
}
