// Face-value resale of one show: the listings on offer (cheapest first; buying one makes it a hold
// of yours, then the usual checkout), your own listings with a withdraw button, and, reached from
// "My tickets" with ?ticket=, a form to list that ticket at no more than the show's cap.
import { describeError, describeProblem, gql, HOLD_PROBLEM_FIELDS, newIdempotencyKey, problemOf, REJECTED_FIELDS } from '../api';
import { currentUser } from '../auth';
import { busy, h, notice } from '../dom';
import { minorUnitDigits, money, toMinorUnits } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import type { Problem } from '../types';

interface Listing {
  __typename?: 'ResaleListing';
  id: string;
  priceCents: number;
  faceValueCents: number;
  status: 'LISTED' | 'SOLD' | 'WITHDRAWN';
  seat: { section: string; row: string; number: string } | null;
  show: { id: string };
}

interface ResaleShow {
  id: string;
  currency: string;
  resaleCapPercent: number;
  event: { name: string };
  resaleListings: Listing[];
}

const LISTING_FIELDS = 'id priceCents faceValueCents status seat { section row number } show { id }';
const LOAD = `query Resale($id: ID!) {
  show(id: $id) { id currency resaleCapPercent event { name } resaleListings(first: 50) { ${LISTING_FIELDS} } }
  viewer { id resaleListings { ${LISTING_FIELDS} } } }`;
const LIST = `mutation ListTicket($ticketId: ID!, $priceCents: Int!) {
  listForResale(ticketId: $ticketId, priceCents: $priceCents) { __typename ... on ResaleListing { ${LISTING_FIELDS} } ${REJECTED_FIELDS} } }`;
const WITHDRAW = `mutation WithdrawListing($listingId: ID!) {
  withdrawResale(listingId: $listingId) { __typename ... on ResaleListing { ${LISTING_FIELDS} } ${REJECTED_FIELDS} } }`;
const BUY = `mutation BuyListing($listingId: ID!, $key: String!) {
  holdResaleListing(listingId: $listingId, idempotencyKey: $key) { __typename ... on Hold { id } ${HOLD_PROBLEM_FIELDS} } }`;

function place(seat: Listing['seat']): string {
  return seat ? `${seat.section}, row ${seat.row}, seat ${seat.number}` : 'General admission';
}

export async function resaleScreen({ root, params, query, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  const messages = h('div', { role: 'status' });
  const offered = h('section', { class: 'card resale-listings', 'aria-labelledby': 'offered-title' });
  const own = h('section', { class: 'card my-listings', 'aria-labelledby': 'own-title' });
  const heading = h('h1', {}, 'Resale');
  root.replaceChildren(heading, messages, offered, own);

  const report = (problem: Problem | null, done: string): boolean => {
    messages.replaceChildren(problem ? notice('error', describeProblem(problem)) : notice('success', done));
    return problem === null;
  };

  async function load(): Promise<void> {
    let data: { show: ResaleShow | null; viewer: { resaleListings: Listing[] } | null };
    try {
      data = await gql(LOAD, { id: params.id }, signal);
    } catch (error) {
      messages.replaceChildren(notice('error', describeError(error)));
      return;
    }
    const show = data.show;
    if (!show) {
      heading.textContent = 'Show not found';
      return;
    }
    heading.textContent = `Resale: ${show.event.name}`;
    titled(root, heading, `Resale: ${show.event.name}`);
    const ticketId = query.get('ticket');
    const sellForm = ticketId ? sellTicket(show, ticketId) : null;
    offered.replaceChildren(h('h2', { id: 'offered-title' }, 'Tickets fans are reselling'),
      h('p', { class: 'muted' }, `Never above ${show.resaleCapPercent}% of face value.`),
      show.resaleListings.length === 0 ? h('p', { class: 'muted' }, 'No tickets on resale right now.')
        : h('ul', {}, ...show.resaleListings.map((l) => {
          const buy = h('button', { type: 'button' }, 'Buy');
          buy.addEventListener('click', () => void (async () => {
            busy(buy, true, 'Holding…');
            try {
              const { holdResaleListing } = await gql<{ holdResaleListing: { __typename: string; id?: string } }>(
                BUY, { listingId: l.id, key: newIdempotencyKey() });
              const problem = problemOf(holdResaleListing);
              if (problem) report(problem as Problem, '');
              else navigate(`/checkout/${encodeURIComponent(holdResaleListing.id!)}`);
            } catch (error) {
              messages.replaceChildren(notice('error', describeError(error)));
            } finally {
              busy(buy, false, 'Buy');
            }
          })());
          return h('li', { class: 'resale-listing' }, `${place(l.seat)} · ${money(l.priceCents, show.currency)} `, buy);
        })));
    const mine = (data.viewer?.resaleListings ?? []).filter((l) => l.show.id === show.id);
    own.replaceChildren(h('h2', { id: 'own-title' }, 'Your listings'), ...(sellForm ? [sellForm] : []),
      mine.length === 0 ? h('p', { class: 'muted' }, 'You are not reselling tickets for this show.')
        : h('ul', {}, ...mine.map((l) => {
          const item = h('li', { class: 'my-listing' }, `${place(l.seat)} · ${money(l.priceCents, show.currency)} · ${l.status.toLowerCase()} `);
          if (l.status === 'LISTED') {
            const withdraw = h('button', { type: 'button' }, 'Withdraw');
            withdraw.addEventListener('click', () => void (async () => {
              busy(withdraw, true, 'Withdrawing…');
              try {
                const { withdrawResale } = await gql<{ withdrawResale: { __typename: string } }>(WITHDRAW, { listingId: l.id });
                if (report(problemOf(withdrawResale) as Problem | null, 'Withdrawn: the ticket is yours to use again.')) await load();
              } catch (error) {
                messages.replaceChildren(notice('error', describeError(error)));
              } finally {
                busy(withdraw, false, 'Withdraw');
              }
            })());
            item.append(withdraw);
          }
          return item;
        })));
  }

  function sellTicket(show: ResaleShow, ticketId: string): HTMLElement {
    // In the currency's own units: whole yen for JPY, cents for EUR.
    const step = String(10 ** -minorUnitDigits(show.currency));
    const price = h('input', { type: 'number', min: step, step, required: true, id: 'resale-price' });
    const submit = h('button', { type: 'submit' }, 'List for resale');
    const form = h('form', { class: 'sell-ticket' }, h('label', { for: 'resale-price' }, `Price (${show.currency})`), price, submit);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void (async () => {
        busy(submit, true, 'Listing…');
        try {
          const { listForResale } = await gql<{ listForResale: { __typename: string } }>(
            LIST, { ticketId, priceCents: toMinorUnits(price.value, show.currency) });
          if (report(problemOf(listForResale) as Problem | null, 'Listed: you are refunded the price when a fan buys it.')) {
            navigate(`/shows/${encodeURIComponent(show.id)}/resale`, { replace: true });
          }
        } catch (error) {
          messages.replaceChildren(notice('error', describeError(error)));
        } finally {
          busy(submit, false, 'List for resale');
        }
      })();
    });
    return form;
  }

  await load();
}
