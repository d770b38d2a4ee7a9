// Orders: the fields screens read, and following an order until its payment settles.
import { gql, subscribe } from './api';
import type { Order } from './types';

export const ORDER_FIELDS = `
  id status totalCents currency createdAt
  payment { id status amountCents currency nextActionUrl failureReason }
  items { sectionId priceCents seat { id section row number } }
  tickets { id status sectionId barcode qrSvg pdfUrl seat { id section row number } }
  show { id startsAt status refundPolicy { fanRefundsUntilHoursBefore } event { id name venue { id name city timeZone } }
         availability { sections { sectionId name generalAdmission capacity available } } }`;

const ORDER = `query Order($id: ID!) { order(id: $id) { __typename ${ORDER_FIELDS} } }`;
const ORDER_UPDATES = `subscription OrderUpdates($orderId: ID!) { orderUpdates(orderId: $orderId) { __typename ${ORDER_FIELDS} } }`;

export function fetchOrder(id: string, signal?: AbortSignal): Promise<Order | null> {
  return gql<{ order: Order | null }>(ORDER, { id }, signal).then((r) => r.order);
}

/** True once nothing more will happen to the order without the buyer doing something. */
export function settled(order: Order): boolean {
  const payment = order.payment?.status;
  return order.status !== 'PENDING_PAYMENT' || payment === 'FAILED' || payment === 'CANCELED';
}

/**
 * Follows an order (e.g. while 3-D Secure is completed in another tab): the orderUpdates
 * subscription pushes changes, and polling `order(id)` covers a missing or dropped socket.
 * Calls onUpdate for every new state; stops by itself once the order is settled, or on abort.
 */
export function watchOrder(orderId: string, signal: AbortSignal, onUpdate: (order: Order) => void, pollMs = 2000): void {
  let last = '';
  let done = false;
  const stop = (): void => {
    done = true;
    stopSubscription();
    window.clearInterval(poller);
  };
  const deliver = (order: Order): void => {
    if (done) return;
    const key = `${order.status}/${order.payment?.status}/${order.tickets.length}`;
    if (key === last) return;
    last = key;
    onUpdate(order);
    if (settled(order)) stop();
  };
  const stopSubscription = subscribe<{ orderUpdates: Order }>(ORDER_UPDATES, { orderId }, {
    next: ({ orderUpdates }) => deliver(orderUpdates),
  });
  const poller = window.setInterval(() => {
    fetchOrder(orderId, signal).then((order) => order && deliver(order)).catch(() => undefined);
  }, pollMs);
  signal.addEventListener('abort', stop);
}
