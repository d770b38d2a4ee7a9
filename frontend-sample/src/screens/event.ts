// One event and its shows, with what is left and the price range of each.
import { describeError, gql, serverNow } from '../api';
import { fill, h, notice } from '../dom';
import { dateTime, money } from '../format';
import { missing, titled, type ScreenContext } from '../router';
import type { EventSummary, PriceTier, SectionAvailability } from '../types';

const EVENT = `
  query Event($id: ID!) {
    event(id: $id) {
      id name performer category description
      venue { id name city timeZone }
      shows {
        id startsAt onSaleAt currency status
        waitingRoom { enabled queueLength }
        priceTiers { id name priceCents sectionIds }
        availability { sections { sectionId capacity available } }
      }
    }
  }`;

type EventDetail = Omit<EventSummary, 'shows'> & {
  shows: (Omit<EventSummary['shows'][number], 'priceTiers' | 'availability'> & {
    status: 'SCHEDULED' | 'CANCELLED';
    priceTiers: PriceTier[];
    availability: { sections: Pick<SectionAvailability, 'sectionId' | 'capacity' | 'available'>[] };
  })[];
};

export async function eventScreen({ root, params, signal }: ScreenContext): Promise<void> {
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading event…'));
  let event: EventDetail | null;
  try {
    ({ event } = await gql<{ event: EventDetail | null }>(EVENT, { id: params.id }, signal));
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!event) {
    missing(root, 'Event not found', 'Not found', h('p', {}, h('a', { href: '#/' }, 'Back to all events')));
    return;
  }
  const heading = h('h1', {}, event.name);
  const zone = event.venue.timeZone;
  const shows = [...event.shows].sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  fill(root,
    h('p', { class: 'breadcrumbs' }, h('a', { href: '#/' }, 'Events'), ' › ', event.name),
    heading,
    h('p', { class: 'lead' }, `${event.performer} · ${event.category}`),
    h('p', {}, `${event.venue.name}, ${event.venue.city}`),
    event.description ? h('p', {}, event.description) : null,
    h('h2', {}, 'Shows'),
    shows.length === 0
      ? h('p', {}, 'No shows scheduled yet.')
      : h('ul', { class: 'show-list' }, ...shows.map((show) => {
        const left = show.availability.sections.reduce((n, s) => n + s.available, 0);
        const capacity = show.availability.sections.reduce((n, s) => n + s.capacity, 0);
        const prices = show.priceTiers.map((t) => t.priceCents);
        if (show.status === 'CANCELLED') {
          return h('li', { class: 'show-card card show-cancelled' },
            h('h3', {}, dateTime(show.startsAt, zone)),
            h('p', { class: 'badge badge-cancelled' }, 'Cancelled'),
            h('p', {}, 'This show is cancelled. Every ticket bought for it is refunded.'));
        }
        return h('li', { class: 'show-card card' },
          h('h3', {}, dateTime(show.startsAt, zone)),
          show.onSaleAt && Date.parse(show.onSaleAt) > serverNow() ? h('p', { class: 'badge badge-soon' }, `On sale ${dateTime(show.onSaleAt, zone)}`) : null,
          prices.length ? h('p', {}, `From ${money(Math.min(...prices), show.currency)}`) : null,
          h('p', { class: left ? '' : 'sold-out' }, left ? `${left.toLocaleString()} of ${capacity.toLocaleString()} places left` : 'Sold out'),
          show.waitingRoom.enabled ? h('p', { class: 'badge' }, `Waiting room · ${show.waitingRoom.queueLength} waiting`) : null,
          h('a', { class: 'button primary', href: `#/shows/${encodeURIComponent(show.id)}` },
            left ? 'Choose seats' : 'View seat map', h('span', { class: 'visually-hidden' }, ` for ${dateTime(show.startsAt, zone)}`)));
      })));
  titled(root, heading, event.name);
}
