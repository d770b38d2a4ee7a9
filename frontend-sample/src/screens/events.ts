// The event list: the contract's filters (free text, city, performer, date range) and "load more" paging.
// Filters live in the URL (#/?q=…&city=…), so a filtered list can be bookmarked and shared.
import { describeError, gql, serverNow } from '../api';
import { busy, h, notice } from '../dom';
import { money, shortDate, plural } from '../format';
import { navigate, titled, type ScreenContext } from '../router';
import type { Connection, EventSummary } from '../types';

const PAGE_SIZE = 12;

const EVENTS = `
  query Events($filter: EventFilter, $first: Int, $after: String) {
    events(filter: $filter, first: $first, after: $after) {
      edges { cursor node {
        id name performer category
        venue { id name city timeZone }
        shows {
          id startsAt onSaleAt currency waitingRoom { enabled }
          priceTiers { priceCents }
          availability { sections { available } }
        }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }`;

const FILTERS = [
  { key: 'q', label: 'Search', type: 'search', placeholder: 'Event, performer or venue' },
  { key: 'city', label: 'City', type: 'text', placeholder: 'e.g. Lisbon' },
  { key: 'performer', label: 'Performer', type: 'text', placeholder: 'e.g. Quartet Azul' },
  { key: 'from', label: 'From', type: 'date', placeholder: '' },
  { key: 'to', label: 'To', type: 'date', placeholder: '' },
] as const;

/** Local calendar days → the DateTime bounds the API filters on ("to" includes the whole day). */
function toFilter(query: URLSearchParams): Record<string, string> {
  const filter: Record<string, string> = {};
  const text = (key: string) => query.get(key)?.trim() || '';
  if (text('q')) filter.search = text('q');
  if (text('city')) filter.city = text('city');
  if (text('performer')) filter.performer = text('performer');
  if (text('from')) filter.startsAfter = new Date(`${text('from')}T00:00:00`).toISOString();
  if (text('to')) {
    const end = new Date(`${text('to')}T00:00:00`);
    end.setDate(end.getDate() + 1);
    filter.startsBefore = end.toISOString();
  }
  return filter;
}

export async function eventsScreen({ root, query, signal }: ScreenContext): Promise<void> {
  const heading = h('h1', {}, 'Find an event');
  const inputs = FILTERS.map((f) => {
    const input = h('input', { id: `filter-${f.key}`, name: f.key, type: f.type, placeholder: f.placeholder || null, value: query.get(f.key) ?? '' });
    return { key: f.key, input, wrap: h('div', { class: 'field' }, h('label', { for: input.id }, f.label), input) };
  });
  const form = h('form', { class: 'filters card', role: 'search', 'aria-label': 'Filter events' },
    ...inputs.map((i) => i.wrap),
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'button primary' }, 'Search'),
      h('button', { type: 'reset', class: 'button' }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const { key, input } of inputs) if (input.value.trim()) params.set(key, input.value.trim());
    navigate(params.toString() ? `/?${params}` : "/");
  });
  form.addEventListener('reset', () => window.setTimeout(() => navigate('/'), 0));

  const summary = h('p', { class: 'results-summary', role: 'status' });
  const list = h('ul', { class: 'event-list', 'aria-label': 'Events' });
  const more = h('button', { type: 'button', class: 'button load-more', hidden: true }, 'Load more events');
  const errors = h('div');
  root.append(heading, form, summary, list, errors, more);
  titled(root, heading, 'Events');

  const filter = toFilter(query);
  let cursor: string | null = null;
  let shown = 0;

  async function load(): Promise<void> {
    busy(more, true, 'Loading…');
    errors.replaceChildren();
    try {
      const { events } = await gql<{ events: Connection<EventSummary> }>(EVENTS, { filter, first: PAGE_SIZE, after: cursor }, signal);
      const firstNew = list.children.length;
      for (const { node } of events.edges) list.append(eventCard(node));
      shown += events.edges.length;
      cursor = events.pageInfo.endCursor;
      more.hidden = !events.pageInfo.hasNextPage;
      summary.textContent = shown === 0
        ? 'No events match these filters.'
        : `Showing ${plural(shown, 'event')}${events.pageInfo.hasNextPage ? ' (more available)' : ''}.`;
      // After "load more", put keyboard focus on the first new result rather than leaving it on the button.
      if (firstNew > 0) (list.children[firstNew]?.querySelector('a') as HTMLElement | null)?.focus();
    } catch (error) {
      if (!signal.aborted) errors.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(more, false, 'Load more events');
    }
  }
  more.addEventListener('click', () => void load());
  await load();
}

function eventCard(event: EventSummary): HTMLLIElement {
  const upcoming = [...event.shows].sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  const next = upcoming[0];
  return h('li', { class: 'event-card card' },
    h('p', { class: 'eyebrow' }, event.category),
    h('h2', {}, h('a', { href: `#/events/${encodeURIComponent(event.id)}` }, event.name)),
    h('p', {}, event.performer),
    h('p', { class: 'muted' }, `${event.venue.name}, ${event.venue.city}`),
    next ? h('p', {}, h('strong', {}, shortDate(next.startsAt, event.venue.timeZone)), upcoming.length > 1 ? ` + ${plural(upcoming.length - 1, 'more show')}` : '') : null,
    priceRange(upcoming),
    saleState(upcoming, event.venue.timeZone),
    upcoming.some((show) => show.waitingRoom.enabled) ? h('p', { class: 'badge' }, 'Waiting room') : null);
}

/** "From €30" (the cheapest tier of any show; every show of an event is sold in one currency here). */
function priceRange(shows: EventSummary['shows']): HTMLElement | null {
  const prices = shows.flatMap((show) => show.priceTiers.map((tier) => ({ cents: tier.priceCents, currency: show.currency })));
  if (!prices.length) return null;
  const low = prices.reduce((a, b) => (b.cents < a.cents ? b : a));
  return h('p', { class: 'price-range' }, `From ${money(low.cents, low.currency)}`);
}

/** Sold out (no place left at any show) or on sale soon (no show on sale yet), in words. */
function saleState(shows: EventSummary['shows'], timeZone: string): HTMLElement | null {
  if (!shows.length) return null;
  const now = serverNow();
  const opens = shows.map((show) => (show.onSaleAt ? Date.parse(show.onSaleAt) : 0));
  if (opens.every((t) => t > now)) {
    const first = shows[opens.indexOf(Math.min(...opens))];
    return h('p', { class: 'badge badge-soon' }, `On sale soon · ${shortDate(first.onSaleAt!, timeZone)}`);
  }
  const left = shows.reduce((n, show) => n + show.availability.sections.reduce((m, s) => m + s.available, 0), 0);
  return left === 0 ? h('p', { class: 'badge badge-sold-out' }, 'Sold out') : null;
}
