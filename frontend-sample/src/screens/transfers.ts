// "My tickets": every ticket the fan holds (from their confirmed orders), passed to a friend by e-mail
// (transferTicket, cancelTransfer) or offered for resale (a link to the show's resale screen), and
// the tickets friends are passing to them (viewer.incomingTransfers, acceptTransfer).
import { describeError, describeProblem, gql, problemOf, REJECTED_FIELDS } from '../api';
import { currentUser } from '../auth';
import { busy, h, notice } from '../dom';
import { dateTime } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import type { Problem } from '../types';

interface TicketRow {
  id: string;
  status: 'VALID' | 'CHECKED_IN' | 'VOID';
  sectionId: string;
  seat: { section: string; row: string; number: string } | null;
  transfer: { id: string; status: 'PENDING' | 'ACCEPTED' | 'CANCELLED'; toEmail: string } | null;
  resaleListing: { id: string; priceCents: number } | null;
}

interface Transfer {
  __typename?: 'TicketTransfer';
  id: string;
  status: 'PENDING' | 'ACCEPTED' | 'CANCELLED';
  toEmail: string;
  createdAt: string;
  ticket: TicketRow;
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
const LOAD = `query MyTickets { viewer { id
  orders(first: 50) { edges { node { id status show { id startsAt event { name venue { timeZone } } }
    tickets { ${TICKET_FIELDS} } } } }
  incomingTransfers { ${TRANSFER_FIELDS} } } }`;
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

  const ticketItem = (order: OrderRow | null, t: TicketRow): HTMLElement => {
    const item = h('li', { class: 'ticket-row', 'data-ticket': t.id },
      h('strong', {}, place(t.seat)), ' ', h('span', { class: 'muted' }, t.status === 'VALID' ? '' : t.status));
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

  async function load(): Promise<void> {
    let data: { viewer: { orders: { edges: { node: OrderRow }[] }; incomingTransfers: Transfer[] } | null };
    try {
      data = await gql(LOAD, {}, signal);
    } catch (error) {
      mine.replaceChildren(notice('error', describeError(error)));
      return;
    }
    const viewer = data.viewer;
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
    const orders = viewer.orders.edges.map((e) => e.node).filter((o) => o.status === 'CONFIRMED' && o.tickets.length);
    // Tickets friends passed on are the fan's too, though in no order of theirs.
    const received = viewer.incomingTransfers.filter((x) => x.status === 'ACCEPTED' && x.ticket.status !== 'VOID');
    mine.replaceChildren(h('h2', { id: 'mine-title' }, 'Your tickets'),
      orders.length + received.length === 0 ? h('p', { class: 'muted' }, 'No tickets yet.')
        : h('ul', { class: 'ticket-groups' }, ...orders.map((o) => h('li', {},
          h('h3', {}, `${o.show.event.name} · ${dateTime(o.show.startsAt, o.show.event.venue.timeZone)}`),
          h('ul', {}, ...o.tickets.map((t) => ticketItem(o, t))))),
        ...(received.length ? [h('li', {}, h('h3', {}, 'Passed to you by friends'),
          h('ul', {}, ...received.map((x) => ticketItem(null, x.ticket))))] : [])));
  }

  await load();
}
