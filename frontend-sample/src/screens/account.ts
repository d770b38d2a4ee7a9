// Order history (viewer.orders, with ticket links) and in-app notifications (viewer.notifications).
import { describeError, gql } from '../api';
import { currentUser } from '../auth';
import { busy, h, notice } from '../dom';
import { dateTime, money, shortDate } from '../format';
import { ORDER_FIELDS } from '../orders';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import type { Connection, Notification, Order } from '../types';
import { ticketList } from '../widgets';

const PAGE_SIZE = 10;
/** Notifications belong to no venue: they are shown in the device's own zone (still with its abbreviation). */
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

const ACCOUNT = `
  query Account($first: Int, $after: String, $withNotifications: Boolean!) {
    viewer {
      id name email
      orders(first: $first, after: $after) { edges { cursor node { ${ORDER_FIELDS} } } pageInfo { hasNextPage endCursor } }
      notifications(first: 20) @include(if: $withNotifications) { id kind subject createdAt }
      waitlist @include(if: $withNotifications) { id status position show { id event { name } } }
    }
  }`;

interface Viewer {
  id: string;
  name: string;
  email: string;
  orders: Connection<Order>;
  notifications?: Notification[];
  waitlist?: { id: string; status: string; position: number | null; show: { id: string; event: { name: string } } }[];
}

export async function accountScreen({ root, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  const heading = h('h1', { id: 'orders-title' }, 'Your orders');
  const orders = h('ul', { class: 'order-list', 'aria-label': 'Orders' });
  const more = h('button', { type: 'button', class: 'button load-more', hidden: true }, 'Load more orders');
  const notes = h('ul', { class: 'notifications' });
  const errors = h('div');
  root.replaceChildren(heading, errors,
    h('div', { class: 'account-layout' },
      h('section', { 'aria-labelledby': 'orders-title' }, orders, more),
      h('section', { class: 'card', 'aria-labelledby': 'notes-title' }, h('h2', { id: 'notes-title' }, 'Notifications'), notes)));
  titled(root, heading, 'Your orders');

  let cursor: string | null = null;
  const load = async (first: boolean): Promise<void> => {
    busy(more, true, 'Loading…');
    try {
      const { viewer } = await gql<{ viewer: Viewer | null }>(ACCOUNT, { first: PAGE_SIZE, after: cursor, withNotifications: first }, signal);
      if (!viewer) {
        navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
        return;
      }
      if (first && viewer.orders.edges.length === 0) orders.append(h('li', { class: 'muted' }, 'No orders yet. ', h('a', { href: '#/' }, 'Find an event')));
      for (const { node } of viewer.orders.edges) orders.append(orderItem(node));
      cursor = viewer.orders.pageInfo.endCursor;
      more.hidden = !viewer.orders.pageInfo.hasNextPage;
      const waiting = (viewer.waitlist ?? []).filter((e) => e.status === 'WAITING' || e.status === 'OFFERED');
      if (waiting.length) {
        errors.after(h('ul', { class: 'waitlists', 'aria-label': 'Waitlists' }, ...waiting.map((e) => h('li', {},
          h('a', { href: `#/shows/${encodeURIComponent(e.show.id)}/waitlist` }, `Waitlist: ${e.show.event.name}`),
          e.status === 'OFFERED' ? ' · seats held for you' : ` · place ${e.position ?? '–'}`))));
      }
      if (viewer.notifications) {
        notes.replaceChildren(...(viewer.notifications.length
          ? viewer.notifications.map((n) => h('li', { 'data-kind': n.kind }, h('span', {}, n.subject), h('time', { datetime: n.createdAt, class: 'muted' }, shortDate(n.createdAt, LOCAL_ZONE))))
          : [h('li', { class: 'muted' }, 'Nothing new.')]));
      }
    } catch (error) {
      if (!signal.aborted) errors.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(more, false, 'Load more orders');
    }
  };
  more.addEventListener('click', () => void load(false));
  await load(true);
}

function orderItem(order: Order): HTMLLIElement {
  return h('li', { class: 'card order-item' },
    h('h2', {}, h('a', { href: `#/orders/${encodeURIComponent(order.id)}` }, order.show.event.name)),
    h('p', {}, `${dateTime(order.show.startsAt, order.show.event.venue.timeZone)} · ${order.show.event.venue.name}`),
    h('p', {}, h('span', { class: `status status-${order.status.toLowerCase()}` }, order.status.replace('_', ' ').toLowerCase()),
      ` · ${money(order.totalCents, order.currency)} · ordered ${shortDate(order.createdAt, order.show.event.venue.timeZone)}`),
    order.status === 'CONFIRMED' && order.tickets.length
      ? h('details', {}, h('summary', {}, `${order.tickets.length} ticket${order.tickets.length === 1 ? '' : 's'}`), ticketList(order.tickets, order.show.availability?.sections ?? []))
      : null);
}
