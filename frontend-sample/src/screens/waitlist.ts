// The waitlist of a sold-out show: join it (how many tickets, optionally one price), see your place
// in line, and take an offer: seats that came back, held for you until the hold's expiresAt (bought
// through the usual checkout), or leave.
//
// Offers arrive by POLLING viewer.waitlist every few seconds while this screen is open: the contract
// has no per-user push subscription (offers are also in-app notifications and mails).
import { describeError, describeProblem, gql, problemOf, syncServerClock, REJECTED_FIELDS } from '../api';
import { currentUser } from '../auth';
import { announce, busy, h, notice } from '../dom';
import { dateTime, money, plural } from '../format';
import { currentPath, missing, navigate, titled, type ScreenContext } from '../router';
import type { PriceTier, Problem } from '../types';
import { countdown } from '../widgets';

const POLL_MS = 3_000;

const ENTRY_FIELDS = `id quantity priceTierId status position createdAt show { id }
  offer { id expiresAt totalCents currency seats { id section row number } }`;

const LOAD = `query Waitlist($id: ID!) {
  show(id: $id) { id startsAt currency maxTicketsPerUser event { name venue { name timeZone } } priceTiers { id name priceCents sectionIds } }
  viewer { id waitlist { ${ENTRY_FIELDS} } } }`;
const MINE = `query MyWaitlist { viewer { id waitlist { ${ENTRY_FIELDS} } } }`;
const JOIN = `mutation JoinWaitlist($showId: ID!, $quantity: Int!, $priceTierId: ID) {
  joinWaitlist(showId: $showId, quantity: $quantity, priceTierId: $priceTierId) { __typename ... on WaitlistEntry { ${ENTRY_FIELDS} } ${REJECTED_FIELDS} } }`;
const LEAVE = `mutation LeaveWaitlist($entryId: ID!) {
  leaveWaitlist(entryId: $entryId) { __typename ... on WaitlistEntry { ${ENTRY_FIELDS} } ${REJECTED_FIELDS} } }`;

interface Entry {
  __typename?: 'WaitlistEntry';
  id: string;
  quantity: number;
  priceTierId: string | null;
  status: 'WAITING' | 'OFFERED' | 'FULFILLED' | 'EXPIRED' | 'LEFT';
  position: number | null;
  createdAt: string;
  show: { id: string };
  offer: { id: string; expiresAt: string; totalCents: number; currency: string;
    seats: { id: string; section: string; row: string; number: string }[] } | null;
}

interface WaitShow {
  id: string;
  startsAt: string;
  currency: string;
  maxTicketsPerUser: number;
  event: { name: string; venue: { name: string; timeZone: string } };
  priceTiers: PriceTier[];
}

export async function waitlistScreen({ root, params, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading the waitlist…'));
  let show: WaitShow | null;
  let entries: Entry[];
  try {
    const data = await gql<{ show: WaitShow | null; viewer: { waitlist: Entry[] } | null }>(LOAD, { id: params.id }, signal);
    show = data.show;
    entries = data.viewer?.waitlist ?? [];
    void syncServerClock();
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!show) {
    missing(root, 'Show not found', 'Show not found');
    return;
  }
  const theShow = show;
  const heading = h('h1', {}, `Waitlist: ${theShow.event.name}`);
  const body = h('section', { class: 'card waitlist', 'aria-live': 'polite' });
  const messages = h('div', { role: 'status' });
  root.replaceChildren(heading,
    h('p', {}, `${dateTime(theShow.startsAt, theShow.event.venue.timeZone)} · ${theShow.event.venue.name} · `,
      h('a', { href: `#/shows/${encodeURIComponent(theShow.id)}` }, 'Back to the seat map')),
    messages, body);
  titled(root, heading, `Waitlist: ${theShow.event.name}`);

  let shown = '';
  const render = (all: Entry[]): void => {
    const live = all.find((e) => e.show.id === theShow.id && (e.status === 'WAITING' || e.status === 'OFFERED'))
      ?? all.find((e) => e.show.id === theShow.id) ?? null;
    const key = JSON.stringify(live);
    if (key === shown) return; // unchanged: keep focus and the countdown where they are
    shown = key;
    if (live?.status === 'OFFERED' && live.offer) body.replaceChildren(...offerView(live, theShow, signal, leave));
    else if (live?.status === 'WAITING') body.replaceChildren(...waitingView(live, theShow, leave));
    else body.replaceChildren(...joinForm(theShow, live, join));
    if (live?.status === 'OFFERED') announce('Seats came back for you: they are held while you buy them.');
  };

  const refresh = async (): Promise<void> => {
    try {
      const { viewer } = await gql<{ viewer: { waitlist: Entry[] } | null }>(MINE, {}, signal);
      render(viewer?.waitlist ?? []);
    } catch {
      /* offline a moment: the next poll tries again */
    }
  };

  async function join(quantity: number, priceTierId: string | null, button: HTMLButtonElement): Promise<void> {
    busy(button, true, 'Joining…');
    messages.replaceChildren();
    try {
      const { joinWaitlist } = await gql<{ joinWaitlist: Entry | Problem }>(JOIN, { showId: theShow.id, quantity, priceTierId });
      const problem = problemOf(joinWaitlist as { __typename: string });
      if (problem) messages.replaceChildren(notice('error', describeProblem(problem)));
      else await refresh();
    } catch (error) {
      messages.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(button, false, 'Join the waitlist');
    }
  }

  async function leave(entry: Entry, button: HTMLButtonElement): Promise<void> {
    busy(button, true, 'Leaving…');
    try {
      const { leaveWaitlist } = await gql<{ leaveWaitlist: Entry | Problem }>(LEAVE, { entryId: entry.id });
      const problem = problemOf(leaveWaitlist as { __typename: string });
      if (problem) messages.replaceChildren(notice('error', describeProblem(problem)));
      else messages.replaceChildren(notice('info', 'You left the waitlist.'));
      await refresh();
    } catch (error) {
      messages.replaceChildren(notice('error', describeError(error)));
      busy(button, false);
    }
  }

  render(entries);
  const timer = window.setInterval(() => void refresh(), POLL_MS);
  signal.addEventListener('abort', () => window.clearInterval(timer));
}

function joinForm(show: WaitShow, last: Entry | null, join: (q: number, tier: string | null, b: HTMLButtonElement) => Promise<void>): Node[] {
  const quantity = h('input', { id: 'wl-quantity', name: 'quantity', type: 'number', min: '1', max: String(show.maxTicketsPerUser), value: '1', required: true });
  const tier = h('select', { id: 'wl-tier', name: 'tier' },
    h('option', { value: '' }, 'Any price'),
    ...show.priceTiers.map((t) => h('option', { value: t.id }, `${t.name} (${money(t.priceCents, show.currency)})`)));
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Join the waitlist');
  const form = h('form', { class: 'waitlist-join' },
    h('p', {}, 'When seats come back, the fan who has waited longest and fits gets them first, held for a while to buy.'),
    h('p', {}, h('label', { for: 'wl-quantity' }, 'Tickets '), quantity),
    h('p', {}, h('label', { for: 'wl-tier' }, 'Price '), tier),
    button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void join(Number(quantity.value), tier.value || null, button);
  });
  const ended = last ? { FULFILLED: 'You bought the seats offered to you.', EXPIRED: 'Your last offer ran out.', LEFT: 'You left the waitlist.' }[last.status as 'FULFILLED' | 'EXPIRED' | 'LEFT'] : null;
  const nodes: Node[] = [h('h2', {}, 'Join the waitlist')];
  if (ended) nodes.push(h('p', { class: 'muted' }, ended));
  nodes.push(form);
  return nodes;
}

function waitingView(entry: Entry, show: WaitShow, leave: (e: Entry, b: HTMLButtonElement) => Promise<void>): Node[] {
  const button = h('button', { type: 'button', class: 'button' }, 'Leave the waitlist');
  button.addEventListener('click', () => void leave(entry, button));
  const tier = show.priceTiers.find((t) => t.id === entry.priceTierId);
  return [h('h2', {}, 'You are on the waitlist'),
    h('p', { class: 'waitlist-position' }, entry.position === 1 ? 'You are next in line.' : `Your place in line: ${entry.position ?? '–'}`),
    h('p', {}, `Waiting for ${plural(entry.quantity, 'ticket')}${tier ? ` (${tier.name})` : ''}. Keep this page open or watch your notifications.`),
    button];
}

function offerView(entry: Entry, show: WaitShow, signal: AbortSignal, leave: (e: Entry, b: HTMLButtonElement) => Promise<void>): Node[] {
  const offer = entry.offer!;
  const button = h('button', { type: 'button', class: 'button' }, 'No thanks');
  button.addEventListener('click', () => void leave(entry, button));
  const seats = offer.seats.length
    ? h('ul', {}, ...offer.seats.map((s) => h('li', {}, `${s.section}, row ${s.row}, seat ${s.number}`)))
    : h('p', {}, plural(entry.quantity, 'standing place'));
  return [h('h2', {}, 'Seats are waiting for you'),
    countdown(offer.expiresAt, signal, () => undefined),
    seats,
    h('p', {}, `Total ${money(offer.totalCents, offer.currency || show.currency)}`),
    h('p', {}, h('a', { class: 'button primary', href: `#/checkout/${encodeURIComponent(offer.id)}` }, 'Buy now'), ' ', button)];
}
