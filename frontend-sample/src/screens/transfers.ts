// "My tickets": every ticket the fan holds (from their confirmed orders), passed to a friend by e-mail
// (transferTicket, cancelTransfer) or offered for resale (a link to the show's resale screen), and
// the tickets friends are passing to them (viewer.incomingTransfers, acceptTransfer). The tickets friends
// passed on are shown with their QR code and PDF, as they are in no order of the fan's. Orders are paged
// through to the last, so a ticket in an old order can be passed on or resold too.
import { describeError, describeProblem, gql, problemOf, REJECTED_FIELDS } from '../api';
import { currentUser } from '../auth';
import { busy, h, notice } from '../dom';
import { dateTime } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import type { Problem } from '../types';
import { ticketPass } from '../widgets';

interface TicketRow {
  id: string;
  status: 'VALID' | 'CHECKED_IN' | 'VOID';
  sectionId: string;
  seat: { section: string; row: string; number: string } | null;
  transfer: { id: string; status: 'PENDING' | 'ACCEPTED' | 'CANCELLED'; toEmail: string } | null;
  resaleListing: { id: string; priceCents: number } | null;
}

/** A ticket a friend passed on, with what gets its new holder in: it is in no order of theirs. */
interface ReceivedTicket extends TicketRow {
  barcode: string;
  qrSvg: string;
  pdfUrl: string;
}

interface Transfer {
  __typename?: 'TicketTransfer';
  id: string;
  status: 'PENDING' | 'ACCEPTED' | 'CANCELLED';
  toEmail: string;
  createdAt: string;
  ticket: TicketRow;
}

interface IncomingTransfer extends Transfer {
  ticket: ReceivedTicket;
}

interface OrderRow {
  id: string;
  status: string;
  show: { id: string; startsAt: string; event: { name: string; venue: { timeZone: string } } };
  tickets: TicketRow[];
}

const TICKET_FIELDS = `id status sectionId seat { section row number } transfer { id status toEmail }
  resaleListing { id priceCents }`;
const TRANSFER_FIELDS = `id status toEmail createdAt ticket { ${TICKET_FIELDS} }`;
const PAGE_SIZE = 50;
// The first page brings the incoming transfers as well; the next ones only more orders.
const LOAD = `query MyTickets($first: Int!, $after: String, $withTransfers: Boolean!) { viewer { id
  orders(first: $first, after: $after) { edges { node { id status show { id startsAt event { name venue { timeZone } } }
    tickets { ${TICKET_FIELDS} } } } pageInfo { hasNextPage endCursor } }
  incomingTransfers @include(if: $withTransfers) { id status toEmail createdAt
    ticket { ${TICKET_FIELDS} barcode qrSvg pdfUrl } } } }`;
const SEND = `mutation SendTicket($ticketId: ID!, $toEmail: String!) {
  transferTicket(ticketId: $ticketId, toEmail: $toEmail) { __typename ... on TicketTransfer { ${TRANSFER_FIELDS} } ${REJECTED_FIELDS} } }`;
const CANCEL = `mutation CancelTransfer($transferId: ID!) {
  cancelTransfer(transferId: $transferId) { __typename ... on TicketTransfer { ${TRANSFER_FIELDS} } ${REJECTED_FIELDS} } }`;
const ACCEPT = `mutation AcceptTransfer($transferId: ID!) {
  acceptTransfer(transferId: $transferId) { __typename ... on Ticket { id } ${REJECTED_FIELDS} } }`;

function place(seat: TicketRow['seat']): string {
  return seat ? `${seat.section}, row ${seat.row}, seat ${seat.number}` : 'General admission';
}

export async function transfersScreen({ root, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  const heading = h('h1', {}, 'My tickets');
  const messages = h('div', { role: 'status' });
  const incoming = h('section', { class: 'card incoming-transfers', 'aria-labelledby': 'incoming-title' });
  const mine = h('section', { class: 'card my-tickets', 'aria-labelledby': 'mine-title' });
  root.replaceChildren(heading, messages, incoming, mine);
  titled(root, heading, 'My tickets');

  const act = async (button: HTMLButtonElement, label: string, run: () => Promise<{ __typename: string }>,
    done: string): Promise<void> => {
    busy(button, true, 'Working…');
    messages.replaceChildren();
    try {
      const problem = problemOf(await run());
      if (problem) messages.replaceChildren(notice('error', describeProblem(problem as Problem)));
      else {
        messages.replaceChildren(notice('success', done));
        await load();
      }
    } catch (error) {
      messages.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(button, false, label);
    }
  };

  const ticketItem = (order: OrderRow | null, t: TicketRow, pass: HTMLElement[] = []): HTMLElement => {
    const item = h('li', { class: 'ticket-row', 'data-ticket': t.id },
      h('strong', {}, place(t.seat)), ' ', h('span', { class: 'muted' }, t.status === 'VALID' ? '' : t.status), ...pass);
    if (t.transfer?.status === 'PENDING') {
      const cancel = h('button', { type: 'button' }, 'Cancel transfer');
      cancel.addEventListener('click', () => void act(cancel, 'Cancel transfer',
        async () => (await gql<{ cancelTransfer: Transfer }>(CANCEL, { transferId: t.transfer!.id })).cancelTransfer as never,
        'The transfer is cancelled: the ticket stays yours.'));
      item.append(h('p', { class: 'transfer-pending' }, `Offered to ${t.transfer.toEmail}.`), cancel);
    } else if (t.resaleListing && order) {
      item.append(h('p', {}, 'Listed for resale. ',
        h('a', { href: `#/shows/${encodeURIComponent(order.show.id)}/resale` }, 'Manage the listing')));
    } else if (t.status === 'VALID') {
      const email = h('input', { type: 'email', required: true, autocomplete: 'off', id: `to-${t.id}` });
      const send = h('button', { type: 'submit' }, 'Send ticket');
      const form = h('form', { class: 'send-ticket' },
        h('label', { for: `to-${t.id}` }, 'Friend\u2019s e-mail'), email, send);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        void act(send, 'Send ticket',
          async () => (await gql<{ transferTicket: Transfer }>(SEND, { ticketId: t.id, toEmail: email.value })).transferTicket as never,
          `Sent: ${email.value} can accept it from their account.`);
      });
      item.append(form);
      if (order) {
        item.append(h('a', { href: `#/shows/${encodeURIComponent(order.show.id)}/resale?ticket=${encodeURIComponent(t.id)}` },
          'Sell at face value'));
      }
    }
    return item;
  };

  interface Page {
    viewer: {
      orders: { edges: { node: OrderRow }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      incomingTransfers?: IncomingTransfer[];
    } | null;
  }

  /** Every order of the fan's, page by page, and the transfers offered to them; null when signed out. */
  async function fetchAll(): Promise<{ orders: OrderRow[]; incomingTransfers: IncomingTransfer[] } | null> {
    const orders: OrderRow[] = [];
    let incomingTransfers: IncomingTransfer[] = [];
    let after: string | null = null;
    for (;;) {
      const data: Page = await gql<Page>(LOAD, { first: PAGE_SIZE, after, withTransfers: after === null }, signal);
      if (!data.viewer) return null;
      if (after === null) incomingTransfers = data.viewer.incomingTransfers ?? [];
      orders.push(...data.viewer.orders.edges.map((e) => e.node));
      const { hasNextPage, endCursor } = data.viewer.orders.pageInfo;
      if (!hasNextPage || !endCursor || endCursor === after) return { orders, incomingTransfers };
      after = endCursor;
    }
  }

  /** A ticket a friend passed on: what it is, its QR code and PDF (the fan's only way to them), and the send form. */
  const receivedItem = (t: ReceivedTicket): HTMLElement => {
    const item = ticketItem(null, t, ticketPass(t, place(t.seat)));
    item.classList.add('received-ticket');
    return item;
  };

  async function load(): Promise<void> {
    let viewer: Awaited<ReturnType<typeof fetchAll>>;
    try {
      viewer = await fetchAll();
    } catch (error) {
      mine.replaceChildren(notice('error', describeError(error)));
      return;
    }
    if (!viewer) return;
    const pending = viewer.incomingTransfers.filter((x) => x.status === 'PENDING');
    incoming.replaceChildren(h('h2', { id: 'incoming-title' }, 'Tickets sent to you'),
      pending.length === 0 ? h('p', { class: 'muted' }, 'Nobody is sending you a ticket right now.')
        : h('ul', {}, ...pending.map((x) => {
          const accept = h('button', { type: 'button' }, 'Accept ticket');
          accept.addEventListener('click', () => void act(accept, 'Accept ticket',
            async () => (await gql<{ acceptTransfer: { __typename: string } }>(ACCEPT, { transferId: x.id })).acceptTransfer,
            'The ticket is yours, with its own new code.'));
          return h('li', { class: 'incoming-transfer' }, place(x.ticket.seat), ' ', accept);
        })));
    const orders = viewer.orders.filter((o) => o.status === 'CONFIRMED' && o.tickets.length);
    // Tickets friends passed on are the fan's too, though in no order of theirs.
    const received = viewer.incomingTransfers.filter((x) => x.status === 'ACCEPTED' && x.ticket.status !== 'VOID');
    mine.replaceChildren(h('h2', { id: 'mine-title' }, 'Your tickets'),
      orders.length + received.length === 0 ? h('p', { class: 'muted' }, 'No tickets yet.')
        : h('ul', { class: 'ticket-groups' }, ...orders.map((o) => h('li', {},
          h('h3', {}, `${o.show.event.name} · ${dateTime(o.show.startsAt, o.show.event.venue.timeZone)}`),
          h('ul', {}, ...o.tickets.map((t) => ticketItem(o, t))))),
        ...(received.length ? [h('li', {}, h('h3', {}, 'Passed to you by friends'),
          h('ul', {}, ...received.map((x) => receivedItem(x.ticket))))] : [])));
  }

  await load();
}
